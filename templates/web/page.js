// The members' pages: each time also in the reader's zone (detected by the browser, or picked
// and remembered in localStorage), "copy" buttons, "use my browser's zone". Without this script
// the page shows every time in the item's own zone and in UTC.
(function () {
  "use strict";
  var KEY = "tracker.zone";
  var detected = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

  function valid(zone) {
    try { new Intl.DateTimeFormat("en-GB", { timeZone: zone }); return true; }
    catch (e) { return false; }
  }
  function label(zone) { return zone.split("/").pop().replace(/_/g, " "); }
  function stored() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function remember(zone) {
    try {
      if (zone === detected) { localStorage.removeItem(KEY); } else { localStorage.setItem(KEY, zone); }
    } catch (e) { /* private mode: the choice lasts for this page only */ }
  }
  function dayKey(date, zone) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit",
                                              day: "2-digit" }).format(date);
  }
  function clock(date, zone, withDate) {
    var options = { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withDate) { options.weekday = "short"; options.day = "numeric"; options.month = "short"; }
    var parts = new Intl.DateTimeFormat("en-GB", options).formatToParts(date);
    var get = function (type) {
      var found = parts.filter(function (p) { return p.type === type; });
      return found.length ? found[0].value : "";
    };
    var time = get("hour") + ":" + get("minute");
    var text = withDate ? get("weekday") + " " + get("day") + " " + get("month") + ", " + time : time;
    return text + " " + label(zone);
  }

  function show(zone) {
    var section = document.querySelector("section.zone");
    var memberZone = section ? section.getAttribute("data-member-zone") : null;
    var whens = document.querySelectorAll(".when[data-utc]");
    Array.prototype.forEach.call(whens, function (when) {
      var viewer = when.querySelector(".viewer");
      var own = when.getAttribute("data-tz");
      if (!viewer || when.getAttribute("data-all-day") === "yes") { return; }
      if (zone === own || zone === memberZone) {  // already shown by the server
        viewer.hidden = true; viewer.textContent = ""; return;
      }
      var date = new Date(when.getAttribute("data-utc"));
      var withDate = dayKey(date, zone) !== dayKey(date, own);
      viewer.textContent = "= " + clock(date, zone, withDate);
      viewer.setAttribute("data-zone", zone);
      viewer.hidden = false;
    });
  }

  function setupPicker() {
    var section = document.querySelector("section.zone");
    var picker = document.getElementById("zone-picker");
    if (!section || !picker) { return; }
    var zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    if (zones.indexOf(detected) < 0) { zones = [detected].concat(zones); }
    var choice = stored();
    var zone = choice && valid(choice) ? choice : detected;
    if (zones.indexOf(zone) < 0) { zones = [zone].concat(zones); }
    zones.forEach(function (z) {
      var option = document.createElement("option");
      option.value = z;
      option.textContent = z === detected ? z + " (this device)" : z;
      if (z === zone) { option.selected = true; }
      picker.appendChild(option);
    });
    var note = section.querySelector(".zone-note");
    picker.addEventListener("change", function () {
      remember(picker.value);
      show(picker.value);
      if (note) { note.textContent = "Times now also in " + label(picker.value) + "."; }
    });
    section.hidden = false;
    show(zone);
  }

  function setupCopy() {
    Array.prototype.forEach.call(document.querySelectorAll("button.copy-button"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var input = document.getElementById(button.getAttribute("data-copy"));
        var status = button.parentElement.querySelector(".copied");
        input.select();
        var done = function () { if (status) { status.textContent = "Copied."; } };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(input.value).then(done, function () {
            if (status) { status.textContent = "Press Ctrl+C (or long-press) to copy."; }
          });
        } else {
          try { document.execCommand("copy"); done(); } catch (e) { /* selected: copy by hand */ }
        }
      });
    });
  }

  function setupBrowserZone() {
    var button = document.querySelector("button.use-browser-zone");
    var input = document.getElementById("tz");
    if (!button || !input || input.value === detected) { return; }
    button.querySelector(".browser-zone").textContent = detected;
    button.hidden = false;
    button.addEventListener("click", function () { input.value = detected; input.focus(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupPicker();
    setupCopy();
    setupBrowserZone();
  });
}());

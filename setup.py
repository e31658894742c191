"""Build hook only (the metadata is in pyproject.toml): put the templates in the wheel.

The secretary edits the e-mail templates in the root folder `templates/emails/`, and the
members' pages live in `templates/web/` beside them; package-data cannot reach either (it only
sees files under the package's own folder), and a symlink inside the package is followed
differently by sdist, wheel and editable builds. So `build_py` copies the root folders' files
into `tracker/_templates/<folder>/` of the build tree: one copy in the repository, one inside
every wheel. `tracker.config.packaged_templates` finds them there.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# folder under templates/ (relative to the project root, as setuptools expects) -> patterns
FOLDERS = {"emails": ("*.j2",), "web": ("*.j2", "*.css", "*.js")}
TARGET = ("tracker", "_templates")  # inside the package, in the build tree


class BuildPyWithTemplates(build_py):
    """`build_py` that also copies the root templates (e-mail, web) into the package."""

    def _templates(self) -> dict[str, str]:
        """{file in the build tree: file in the source tree} for every template."""
        out: dict[str, str] = {}
        for folder, patterns in FOLDERS.items():
            source = Path("templates", folder)
            found = sorted(p for pattern in patterns for p in (ROOT / source).glob(pattern))
            if not found:  # a wheel without them would fail only at the first mail or page
                raise FileNotFoundError(f"no templates in {ROOT / source}")
            out.update({str(Path(self.build_lib, *TARGET, folder, src.name)): str(source / src.name)
                        for src in found})
        return out

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's templates/ directly
        for out, src in self._templates().items():
            self.mkpath(str(Path(out).parent))
            self.copy_file(src, out, preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), *self._templates()]

    def get_output_mapping(self) -> dict[str, str]:
        """Lets a strict editable install (`editable_mode=strict`) link the templates too."""
        return {**super().get_output_mapping(), **self._templates()}


setup(cmdclass={"build_py": BuildPyWithTemplates})

"""Build hook only (the metadata is in pyproject.toml): put the e-mail templates in the wheel.

The secretary edits the templates in the root folder `templates/emails/`, which package-data
cannot reach (it only sees files under the package's own folder), and a symlink inside the
package is followed differently by sdist, wheel and editable builds. So `build_py` copies the
root folder's `*.j2` files into `tracker/_templates/emails/` of the build tree: one copy in
the repository, one inside every wheel. `tracker.config.packaged_templates` finds them there.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SOURCE = Path("templates", "emails")  # relative to the project root, as setuptools expects
TARGET = ("tracker", "_templates", "emails")  # inside the package, in the build tree


class BuildPyWithTemplates(build_py):
    """`build_py` that also copies the root e-mail templates into the package."""

    def _templates(self) -> dict[str, str]:
        """{file in the build tree: file in the source tree} for every template."""
        found = sorted((ROOT / SOURCE).glob("*.j2"))
        if not found:  # a wheel without templates would fail only when the first mail goes out
            raise FileNotFoundError(f"no e-mail templates in {ROOT / SOURCE}")
        return {str(Path(self.build_lib, *TARGET, src.name)): str(SOURCE / src.name)
                for src in found}

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's templates/emails directly
        for out, src in self._templates().items():
            self.mkpath(str(Path(out).parent))
            self.copy_file(src, out, preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), *self._templates()]

    def get_output_mapping(self) -> dict[str, str]:
        """Lets a strict editable install (`editable_mode=strict`) link the templates too."""
        return {**super().get_output_mapping(), **self._templates()}


setup(cmdclass={"build_py": BuildPyWithTemplates})

"""Ships the frozen ``datasets/`` (with their reference rows, ``datasets/references/*.json``) and
the ``baselines/`` configs inside the wheel.

They live at the top of the repository (where people look for them) and are installed as the
package-data folders ``chaosbench/_datasets`` and ``chaosbench/_baselines``.
"""

from setuptools import find_packages, setup

SHIPPED = {"chaosbench._datasets": "datasets", "chaosbench._baselines": "baselines"}

setup(
    packages=find_packages(include=["chaosbench", "chaosbench.*"]) + list(SHIPPED),
    package_dir=SHIPPED,
    package_data={
        "chaosbench": ["py.typed"],
        "chaosbench._datasets": ["*.yaml", "*.npz", "MANIFEST", "references/*.json"],
        "chaosbench._baselines": ["*.yaml", "*/*.yaml"],
    },
)

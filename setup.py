"""Install recbole-dcr: Deconfounding Causal Recommendation as a RecBole plugin."""

import re

from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as readme:
    long_description = readme.read()

with open("recbole_dcr/version.py", encoding="utf-8") as version_file:
    version = re.search(r'__version__ = "([^"]+)"', version_file.read()).group(1)

# The docs site (docs/, built strictly by tests/test_docs.py); upper bounds because new releases add warnings.
DOCS = ["sphinx>=8.1,<9.1", "myst-parser>=4,<6", "sphinx-rtd-theme>=3,<4"]

setup(
    name="recbole-dcr",
    version=version,
    description="Deconfounding Causal Recommendation (DCR, DCR-MoE) for RecBole",
    long_description=long_description,
    long_description_content_type="text/markdown",
    python_requires=">=3.9,<3.12",
    packages=find_packages(include=["recbole_dcr", "recbole_dcr.*"]) + ["recbole_dcr.properties"],
    # The yaml defaults live at the top level (RecBole's layout); installed copies go inside the package.
    package_dir={"recbole_dcr.properties": "properties"},
    package_data={"recbole_dcr.properties": ["*.yaml", "model/*.yaml", "dataset/*.yaml"]},
    install_requires=[
        "recbole==1.2.1",
        "torch==2.13.0",
        "numpy>=1.21,<2",
        "pandas>=1.3,<3",
        "pyyaml",
        "tqdm",
        "setuptools<82",
        "ray<=2.6.3",
    ],
    extras_require={
        # Ray itself comes with recbole (ray<=2.6.3); Tune needs pyarrow, and pyarrow >= 19 needs numpy 2.
        # The tests build the docs strictly and the package itself, so they need the docs and build tools.
        "test": ["pytest", "hypothesis", "hyperopt==0.2.5", "pyarrow<19", "matplotlib>=3.7,<3.11", *DOCS, "build"],
        "analysis": ["matplotlib>=3.7,<3.11"],  # PNG plots of recbole-dcr analysis
        "hyper": ["hyperopt==0.2.5", "pyarrow<19"],
        "docs": DOCS,
    },
    entry_points={"console_scripts": ["recbole-dcr=recbole_dcr.cli:main"]},
)

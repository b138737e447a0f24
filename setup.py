from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
about = {}
exec((HERE / "sktimbre" / "_version.py").read_text(), about)

setup(
    name="sktimbre",
    version=about["__version__"],
    description=(
        "Learn two instruments' timbres from unpaired recordings and render "
        "music in a voice that blends them; scikit-learn estimators over PyTorch."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    packages=find_packages(include=["sktimbre", "sktimbre.*"]),
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.6,<1.10",
        "librosa>=0.10",
        "soundfile>=0.12",
        "soxr>=0.3",
        "joblib>=1.3",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "pretty_midi>=0.2.10",
        # Simulated rooms for load_default(room="recorded"); 0.10 seeds its ray
        # tracer (pyroomacoustics.random). Needs only numpy, scipy and Cython.
        "pyroomacoustics>=0.10",
        "safetensors>=0.4",
        "torch>=2.6",
    ],
    extras_require={
        "dev": [
            "pytest>=7",
            # The suite runs on every core (pyproject's addopts: -n auto).
            "pytest-xdist>=3.5",
            "hypothesis>=6",
            # Scale-out: tests/test_search.py runs a search on a LocalCluster.
            "dask[distributed]>=2024.1",
            "ruff>=0.5",
            # The documentation site; tests/test_docs.py builds it.
            "mkdocs>=1.6,<2",
            "mkdocs-material>=9.5,<10",
            "mkdocstrings[python]>=1.0,<2",
        ],
    },
    entry_points={"console_scripts": ["sktimbre=sktimbre.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Analysis",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)

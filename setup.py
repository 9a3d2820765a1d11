from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as readme:
    long_description = readme.read()

# matplotlib draws every run's figures, so the `minicnn` command needs it; threadpoolctl holds BLAS at one thread
# during a step (minicnn.runtime.threads); the rest is imported where needed
figures = ["scikit-learn>=1.3", "tqdm>=4.60"]
# `minicnn sweep` runs configurations with joblib on this machine, or on a Dask cluster with --dask
sweep = ["joblib>=1.3"]
dask = sweep + ["dask[distributed]>=2023.1"]
# `minicnn assignment grade` draws its gradient checks with hypothesis; the notebook shows a tqdm bar and keeps
# the loops' small matrix products on one thread (threadpoolctl)
assignment = ["hypothesis>=6.80", "tqdm>=4.60", "threadpoolctl>=3.1"]

setup(
    name="minicnn",
    version="0.1.0",
    description="A from-scratch, readable CNN library on NumPy (and CuPy) that rebuilds the published "
                "Fashion-MNIST networks",
    long_description=long_description,
    long_description_content_type="text/markdown",
    packages=find_packages(include=["minicnn", "minicnn.*"]),
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "matplotlib>=3.7", "threadpoolctl>=3.1"],
    extras_require={
        "cuda12": ["cupy-cuda12x"],
        "cuda13": ["cupy-cuda13x"],
        "examples": figures + sweep,
        "sweep": figures + sweep,
        "dask": figures + dask,
        "assignment": assignment,
        # nbclient, nbformat and ipykernel run the assignment's notebook headless
        # wheel: the autograder's test builds the minicnn inside the zip offline (no build isolation)
        "test": figures + dask + assignment + ["pytest>=7", "nbclient>=0.7", "nbformat>=5.7", "ipykernel>=6",
                                               "wheel"],
        "benchmarks": figures + ["torch"],  # the CPU build is enough
    },
    entry_points={"console_scripts": ["minicnn = minicnn.cli:main"]},
)

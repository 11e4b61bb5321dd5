"""The optional compiled module (latentpress._native); everything else is in pyproject.toml.

It is built when a C compiler is at hand and skipped otherwise (optional=True): every
caller falls back to numpy code that gives the same results, only slower.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("latentpress._native", ["latentpress/_native.c"], optional=True)])

"""The `minicnn` command: the paper lab's commands and the assignment tool's, over the library.

It stands above both minicnn.lab and minicnn.assignment; argparse lives only here.
"""
from minicnn.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]

"""How the layers run fast, underneath their math: threads over pieces of the work, reused work
buffers, and the one fusion across layers (BatchNorm -> activation -> MaxPool2D).

The layers' formulas do not depend on any of it: with one thread and no fusion they compute the
same numbers (``mc.set_threads(1)``, ``model.fuse = False``).
"""

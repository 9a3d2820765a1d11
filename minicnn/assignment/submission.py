"""What a student handed in: a folder or a zip, the assignment's files at its top or in one folder inside it,
found by name. The files are read into memory once; the grade uses that copy.

A file the assignment has no use for is named and left out, a missing one is named and the handed-out stub
graded in its place, a given module handed in anyway is named and the handed-out one used: every such line
goes into the output the student reads.
"""
import os
import posixpath
import zipfile

from minicnn.assignment.parts import PARTS, AssignmentError

LARGEST_FILE = 2 * 2 ** 20     # bytes: far above any solution; larger files are left out, with a line
SKIPPED_FOLDERS = ("__MACOSX", "__pycache__", ".ipynb_checkpoints")
DEEPEST = 4                    # folders inside the submission a file may sit in


def listed(path):
    """{relative path: bytes or None (too large)} of the regular files in folder or zip ``path``."""
    found = {}
    if os.path.isdir(path):
        for folder, folders, names in os.walk(path):
            folders[:] = [name for name in folders if name not in SKIPPED_FOLDERS and not name.startswith(".")
                          and not os.path.islink(os.path.join(folder, name))]
            for name in names:
                full = os.path.join(folder, name)
                relative = os.path.relpath(full, path).replace(os.sep, "/")
                if name.startswith(".") or os.path.islink(full) or not os.path.isfile(full) or \
                        relative.count("/") > DEEPEST:
                    continue
                if os.path.getsize(full) > LARGEST_FILE:
                    found[relative] = None
                    continue
                with open(full, "rb") as file:
                    found[relative] = file.read()
        return found
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for entry in archive.infolist():
                name = posixpath.normpath(entry.filename)
                parts = name.split("/")
                if entry.is_dir() or name.startswith(("/", "..")) or any(part in SKIPPED_FOLDERS or
                                                                        part.startswith(".") for part in parts) \
                        or len(parts) - 1 > DEEPEST or (entry.external_attr >> 16) & 0o170000 == 0o120000:
                    continue
                found[name] = archive.read(entry) if entry.file_size <= LARGEST_FILE else None
        return found
    if not os.path.exists(path):
        raise AssignmentError(f"{path}: no such folder or file; give the folder (or the zip) a student handed in")
    raise AssignmentError(f"{path} is neither a folder nor a zip file: give the folder (or the zip) a student "
                          "handed in")


def collect(path, assignment):
    """({module: source bytes} to grade, [lines for the student]) of submission ``path`` (a folder or a zip)
    for ``assignment`` (a folder.Assignment): the handed-out files, those of the assignment's parts replaced
    by the student's."""
    files = listed(path)
    theirs = {f"{PARTS[name].module}.py" for name in assignment.parts}
    given = {f"{part.module}.py" for part in PARTS.values()} - theirs
    # the folder holding most of the assignment's files is the student's; the shallowest of equals
    folders = {}
    for relative in files:
        folder, name = posixpath.split(relative)
        if name in theirs:
            folders[folder] = folders.get(folder, 0) + 1
    chosen = min(folders, key=lambda folder: (-folders[folder], folder.count("/"), folder)) if folders else ""
    graded, notes, left_out = dict(assignment.handed_out), [], []
    for relative, data in sorted(files.items()):
        folder, name = posixpath.split(relative)
        if folder == chosen and name in theirs:
            if data is None:
                notes.append(f"{relative} is larger than {LARGEST_FILE // 2 ** 20} MiB and was not graded")
                continue
            graded[name[:-3]] = data
        elif folder == chosen and name in given:
            notes.append(f"{relative} is given, not yours to change: the handed-out {name} is used")
        elif name != "__init__.py":   # a package marker: nothing to grade, nothing to say
            left_out.append(relative)
    where = f" (in {chosen}/)" if chosen else ""
    missing = sorted(theirs - {posixpath.split(relative)[1] for relative in files
                               if posixpath.split(relative)[0] == chosen})
    for name in missing:
        notes.append(f"{name} is missing from your submission{where}: the handed-out stub was graded in its place")
    if left_out:
        notes.append("not graded (the assignment's files are " + ", ".join(sorted(theirs)) + f"{where}): "
                     + ", ".join(left_out[:20]) + (f" and {len(left_out) - 20} more" if len(left_out) > 20 else ""))
    return graded, notes

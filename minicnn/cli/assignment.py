"""`minicnn assignment make` and `minicnn assignment grade`: the command line of the assignment tool."""
import os
import sys

from minicnn.assignment.parts import PARTS, AssignmentError

EPILOG = """\
A teacher's round:
  minicnn assignment make conv pool batchnorm --out hw3     # hand out hw3/ (README.md says what to do)
  minicnn assignment grade hw3 --json results.json          # after copying a student's student/*.py in
Points and time limits: hw3/grading/points.json. More: docs/teaching.md."""


def command_make(arguments):
    from minicnn.assignment.make import make_assignment
    written = make_assignment(arguments.parts, arguments.out, overwrite=arguments.overwrite,
                              solution=arguments.solution)
    chosen = [part.name for part in PARTS.values() if part.name in arguments.parts or "all" in arguments.parts]
    given = "" if len(chosen) == len(PARTS) else ", the others given"
    print(f"wrote {len(written)} files into {arguments.out}: the parts {', '.join(chosen)} "
          f"{'filled in (the answer key)' if arguments.solution else 'to write'}{given}; "
          f"the student starts with {os.path.join(arguments.out, 'README.md')}")
    return 0


def command_grade(arguments):
    from minicnn.assignment.grade import grade, write_results
    print(f"grading {arguments.folder}: one line per test, its points and what to fix", flush=True)
    results = grade(arguments.folder, only=arguments.only)
    score, most = sum(result.score for result in results), sum(result.max_score for result in results)
    print(f"score: {score:g}/{most:g}")
    if arguments.json:
        write_results(results, arguments.json)
        print(f"results written to {arguments.json}")
    return 0 if score == most else 1


def run(function):
    def command(arguments):
        try:
            return function(arguments)
        except AssignmentError as error:
            print(f"minicnn assignment {arguments.assignment_command}: error: {error}", file=sys.stderr)
            return 2
    return command


def add_command(commands, formatter_class):
    """Add `assignment` (with its make and grade) to the `minicnn` parser's subcommands."""
    assignment = commands.add_parser("assignment", help="make a graded assignment from the reference layers, "
                                     "and grade it", description=__doc__, epilog=EPILOG,
                                     formatter_class=formatter_class)
    assignment.set_defaults(command_name="assignment")
    actions = assignment.add_subparsers(title="commands", metavar="COMMAND", required=True, dest="assignment_command")
    make = actions.add_parser("make", formatter_class=formatter_class,
                              help="write a student folder: the chosen parts to implement, README, notebook, tests",
                              description="Write a self-contained student folder: every reference function, those "
                                          "of the chosen parts with their bodies cut to `raise NotImplementedError` "
                                          "(docstrings and signatures kept), the others filled in; a README, a "
                                          "notebook, and the grading data (expected values, points).")
    make.add_argument("parts", nargs="+", metavar="PART", choices=list(PARTS) + ["all"],
                      help="what the student writes: " + ", ".join(PARTS) + ", or all")
    make.add_argument("--out", required=True, metavar="DIR", help="the folder to write (new or empty)")
    make.add_argument("--overwrite", "--force", action="store_true",
                      help="write into a folder that already holds files, replacing what is there")
    make.add_argument("--solution", action="store_true",
                      help="fill the chosen parts in too: the answer key, which grades at full marks")
    make.set_defaults(function=run(command_make))
    grade = actions.add_parser("grade", formatter_class=formatter_class,
                               help="run the tests on the student's code: points per test, results.json",
                               description="Run every test of the folder's grading/points.json on its student/ "
                                           "code, each in its own process under its time limit, and print one line "
                                           "per test with its points and what to fix. Exit status 0 only at full "
                                           "marks (1 otherwise, 2 for a folder that cannot be graded).")
    grade.add_argument("folder", metavar="DIR", help="a folder made by `minicnn assignment make`")
    grade.add_argument("--json", metavar="RESULTS.json", default=None,
                       help="also write the results as course platforms read them (Gradescope's layout)")
    grade.add_argument("--only", nargs="+", metavar="PART", default=None, choices=list(PARTS),
                       help="run the tests of these parts only (not it trains): quicker while working on one")
    grade.set_defaults(function=run(command_grade))
    return assignment

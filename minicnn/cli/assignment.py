"""`minicnn assignment make | grade | autograder | grade-all`: the command line of the assignment tool."""
import os
import sys

from minicnn.assignment.parts import PARTS, AssignmentError
from minicnn.cli.arguments import non_negative_int, positive_float

EPILOG = """\
A teacher's round:
  minicnn assignment make conv pool batchnorm --out hw3 --seed 7   # hand out hw3/ (README.md says what to do)
  minicnn assignment autograder hw3 --out hw3-autograder.zip       # upload to Gradescope (hidden cases inside)
  minicnn assignment grade hw3 --submission alice.zip --json results.json
  minicnn assignment grade-all submissions/ --assignment hw3-autograder.zip --out scores.csv
Points, time limits, budget, visibility: hw3/grading/points.json. More: docs/teaching.md."""


def command_make(arguments):
    from minicnn.assignment.make import make_assignment
    written = make_assignment(arguments.parts, arguments.out, overwrite=arguments.overwrite,
                              solution=arguments.solution, seed=arguments.seed)
    chosen = [part.name for part in PARTS.values() if part.name in arguments.parts or "all" in arguments.parts]
    given = "" if len(chosen) == len(PARTS) else ", the others given"
    print(f"wrote {len(written)} files into {arguments.out}: the parts {', '.join(chosen)} "
          f"{'filled in (the answer key)' if arguments.solution else 'to write'}{given}, public cases drawn from "
          f"seed {arguments.seed}; the student starts with {os.path.join(arguments.out, 'README.md')}")
    return 0


def command_grade(arguments):
    from minicnn.assignment import folder, submission
    from minicnn.assignment.grade import grade, write_results
    assignment = folder.load(arguments.folder)
    files, notes = dict(assignment.handed_out), []
    if arguments.submission:
        files, notes = submission.collect(arguments.submission, assignment)
    what = arguments.submission or os.path.join(arguments.folder, "student")
    print(f"grading {what}: one line per test, its points and what to fix", flush=True)
    for note in notes:
        print(note)
    result = grade(assignment, files, only=arguments.only, budget=arguments.budget,
                   echo=lambda line: print(line, flush=True), notes=notes)
    print(f"score: {result.score:g}/{result.max_score:g} in {result.seconds:.1f} s")
    if arguments.json:
        write_results(result, arguments.json, leaderboard=arguments.leaderboard)
        print(f"results written to {arguments.json}")
    return 0 if result.score == result.max_score else 1


def command_autograder(arguments):
    from minicnn.assignment.autograder import write_autograder
    seed, chosen = write_autograder(arguments.folder, arguments.out, seed=arguments.seed, wheels=arguments.wheels,
                                    leaderboard=arguments.leaderboard)
    told = "" if chosen else f"; the hidden cases' seed is {seed} (keep it to build the same zip again; it is " \
                             "written nowhere else)"
    print(f"wrote {arguments.out}: upload it as the Gradescope assignment's autograder{told}")
    return 0


def command_grade_all(arguments):
    from minicnn.assignment.grade_all import grade_all
    rows = grade_all(arguments.submissions, arguments.assignment, arguments.out, budget=arguments.budget,
                     echo=lambda line: print(line, flush=True))
    print(f"wrote {arguments.out}: {len(rows)} submissions, each one's results.json beside it")
    return 0


def run(function):
    def command(arguments):
        try:
            return function(arguments)
        except AssignmentError as error:
            print(f"minicnn assignment {arguments.assignment_command}: error: {error}", file=sys.stderr)
            return 2
    return command


def budget_argument(parser):
    parser.add_argument("--budget", type=positive_float, default=None, metavar="SECONDS",
                        help="end the whole grade within this many seconds (default: grading/points.json's "
                             "budget_seconds, 480 as made)")


def add_command(commands, formatter_class):
    """Add `assignment` (with make, grade, autograder and grade-all) to the `minicnn` parser's subcommands."""
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
    make.add_argument("--seed", type=non_negative_int, default=14, metavar="S",
                      help="the seed the public cases (fixed and drawn) are drawn from (default 14)")
    make.add_argument("--overwrite", "--force", action="store_true",
                      help="write into a folder that already holds files, replacing what is there")
    make.add_argument("--solution", action="store_true",
                      help="fill the chosen parts in too: the answer key, which grades at full marks")
    make.set_defaults(function=run(command_make))
    grade = actions.add_parser("grade", formatter_class=formatter_class,
                               help="run the tests on the student's code: points per test, results.json",
                               description="Run every test of the folder's grading/points.json on its student/ "
                                           "code (or on a submission's files), each in processes of its own, the "
                                           "student's code in one that only computes, and print one line per test "
                                           "with its points and what to fix. Exit status 0 only at full marks (1 "
                                           "otherwise, 2 for a folder that cannot be graded).")
    grade.add_argument("folder", metavar="DIR", help="a folder made by `minicnn assignment make` (or the "
                       "assignment folder inside an autograder, with its hidden cases)")
    grade.add_argument("--submission", metavar="PATH", default=None,
                       help="grade these files (a folder or a zip, the assignment's files at its top or in one "
                            "folder inside) instead of DIR/student/; DIR is left as it is")
    grade.add_argument("--json", metavar="RESULTS.json", default=None,
                       help="also write the results as Gradescope's autograder reads them")
    grade.add_argument("--leaderboard", action="store_true",
                       help="put the it-trains accuracy on the leaderboard in results.json")
    grade.add_argument("--only", nargs="+", metavar="PART", default=None, choices=list(PARTS),
                       help="run the tests of these parts only (not it trains): quicker while working on one")
    budget_argument(grade)
    grade.set_defaults(function=run(command_grade))
    autograder = actions.add_parser("autograder", formatter_class=formatter_class,
                                    help="pack the folder for Gradescope: setup.sh, run_autograder, hidden cases",
                                    description="Write a Gradescope autograder zip: setup.sh (installs minicnn and "
                                                "its dependencies at this machine's versions), run_autograder "
                                                "(grades /autograder/submission into results/results.json), the "
                                                "assignment folder, and hidden cases drawn from a seed that is "
                                                "written only into the zip.")
    autograder.add_argument("folder", metavar="DIR", help="a folder made by `minicnn assignment make`")
    autograder.add_argument("--out", required=True, metavar="ZIP", help="the zip to write")
    autograder.add_argument("--seed", type=non_negative_int, default=None, metavar="S",
                            help="the hidden cases' seed (default: drawn at random and printed once)")
    autograder.add_argument("--wheels", action="store_true",
                            help="put the wheels of minicnn and its dependencies into the zip (pip wheel, run "
                                 "here), so that setup.sh installs without the package index")
    autograder.add_argument("--leaderboard", action="store_true",
                            help="show the it-trains accuracy on Gradescope's leaderboard")
    autograder.set_defaults(function=run(command_autograder))
    grade_all = actions.add_parser("grade-all", formatter_class=formatter_class,
                                   help="grade a class: one folder or zip a student, scores.csv",
                                   description="Grade every submission in SUBMISSIONS (one folder or zip a "
                                               "student, named after the student), each in processes of its own "
                                               "under the same protections as grade, and write one row a student "
                                               "with every test's score, and each one's results.json beside it.")
    grade_all.add_argument("submissions", metavar="SUBMISSIONS", help="a folder holding one folder or zip a student")
    grade_all.add_argument("--assignment", required=True, metavar="DIR_OR_ZIP",
                           help="the assignment folder, or the autograder zip (to grade its hidden cases too)")
    grade_all.add_argument("--out", required=True, metavar="SCORES.csv", help="the table to write")
    budget_argument(grade_all)
    grade_all.set_defaults(function=run(command_grade_all))
    return assignment

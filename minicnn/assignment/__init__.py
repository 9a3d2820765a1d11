"""Course assignments made from the reference twins (minicnn/reference), and graded.

    minicnn assignment make conv pool --out hw --seed 7        # a student folder: stubs, README, notebook, cases
    minicnn assignment grade hw --json results.json            # one line per test; results.json as Gradescope reads it
    minicnn assignment autograder hw --out autograder.zip      # the Gradescope zip, with hidden cases
    minicnn assignment grade-all submissions/ --assignment autograder.zip --out scores.csv

The modules, in the order a reader meets them: parts (what a part is, the cut to stubs),
cases (the fixed inputs and running a module on them), hints (the classic mistakes,
recognised), drawn (the hypothesis-drawn gradient checks), training (it trains), student
(the student's code, and networks made of it), graders (the tests), folder (an assignment
folder read into memory), worker (the student's process: computes, never judges), remote
(the grader's side of it), submission (what a student handed in), grade (the tests in
processes of their own, under a budget; results.json), grade_all (a class), autograder
(the Gradescope zip), make (writing the folder, with readme and notebook), checks (the
notebook's view of the tests). The command line is minicnn/cli/assignment.py;
docs/teaching.md is the guide.
"""

"""Course assignments made from the reference twins (minicnn/reference), and graded.

    minicnn assignment make conv pool --out hw          # a student folder: stubs, README, notebook, grading data
    minicnn assignment grade hw --json results.json     # one line per test; results.json as Gradescope reads it

The modules, in the order a reader meets them: parts (what a part is, the cut to stubs),
cases (the fixed inputs and running a module on them), hints (the classic mistakes,
recognised), drawn (the hypothesis-drawn gradient checks), training (it trains), student
(the student's code, and networks made of it), graders (the tests), grade (each test in
its own process), make (writing the folder, with readme and notebook), checks (the
notebook's view of the tests), command (the command line). docs/teaching.md is the guide.
"""

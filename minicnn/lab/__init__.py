"""The paper lab: the published networks and their recipes, run end to end.

    from minicnn.lab import zoo
    from minicnn.lab.runner import run_experiment
    model = zoo.build("band-cnn")
    result = run_experiment("band-cnn", overrides={"epochs": 2}, limit=2000)   # a quick try

zoo (the networks and their recipes, as data), recipes (a recipe checked, and the optimizer,
schedule, augmentation and callbacks it asks for), runs (run folders), runner (one run: data,
training, report), comparison (an example's runs side by side), sweep (a grid of runs),
results (the table of finished runs), report (a run's report and figures). Built on the
library; the library never imports it.
"""

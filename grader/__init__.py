"""The autograder, a package of its own (teachers and CI use it; the student zip leaves it out):
``homework`` (student versions and ``autograde``), ``gradebook`` (nbgrader's gradebook: the
teachers' scores kept across rebuilds, a run's scores recorded), ``grading`` (one submission, the points
policy), ``grading_kernel`` (the kernel that runs a submission, with ``snapshot``: its reset and
check, ``inventory``: what it takes in at its start, ``codes``: which code is a library's own, ``wrappers``: whether a replaced library function is the library's own wrapper and
what a wrapper holds runs only library code, ``hooks``: class shapes, trait hooks and library registries,
``contents``: the insides of wrappers and held objects it compares by identity, ``signals``: the
signal handlers and timers it puts back first, and ``guard``: its audit hook), ``connect`` (how the
grader reaches that kernel), ``sandbox`` (bubblewrap around it) and ``submissions`` (reading hostile
files, the rows and the CSV).

May import: ``grader`` itself and ``helpers.core`` (paths and environment names); never a
model family, the registry or the notebook tools.
"""

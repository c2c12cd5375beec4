"""Planted wrong solutions for the learner checks (issue 23).

``planted.MISTAKES`` and ``batch2.MISTAKES`` (the development set) were written while the probes
were built; ``held_out.MISTAKES`` after they were finished, unseen by them. Each entry is
``(check name, mistake id, expected cause regex, wrong function)``.
"""

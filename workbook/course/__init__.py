"""The course: what the notebooks use and nothing the library needs.

======================  ==================================================================
``course.colab``        ``setup()`` for notebooks (Colab install, device, seeds, threads)
``course.plots``        matplotlib figures; ``course.widgets``: interactive knobs
``course.sections``     the chapters' real-model sections: load or skip, screen then verify
``course.checks``       learner checks for the notebooks' exercises
======================  ==================================================================
"""

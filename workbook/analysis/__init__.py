"""Analysis on top of the estimates: circuits, interop, and the diagnoser.

======================  ==================================================================
``analysis.circuits``   edge selection, faithfulness, faithfulness curves, overlap
``analysis.interop``    scores and circuits in hannamw/EAP-IG's names and graph JSON
``analysis.mib``        MIB's circuit yardstick: faithfulness at 10 edge fractions, CPR and CMD
``analysis.stability``  circuits across data resamples: Jaccard overlap, edge frequencies
``analysis.probes``     the diagnoser's cheap probes (pattern change, edge terms, predicted misses)
``analysis.diagnosis``  what the diagnoser returns: findings, fixes, the report
``analysis.recovery``   verification by patching: which flags are real, and which fix measurably recovers them
``analysis.diagnose``   :func:`diagnose`: which estimates to distrust and the fix to use
======================  ==================================================================
"""

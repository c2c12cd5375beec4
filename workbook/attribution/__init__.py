"""Attribution estimates: every component's effect from a few forward and backward passes.

======================  ==================================================================
``attribution.atp``         AtP: node attribution patching (one gradient)
``attribution.qk_fix``      AtP* QK fix (attention saturation)
``attribution.graddrop``    AtP* GradDrop (effect cancellation)
``attribution.atp_star``    AtP* = QK fix + GradDrop
``attribution.fn_bound``    AtP*'s subset-sampling bound on remaining false negatives
``attribution.eap``         EAP: edge attribution patching
``attribution.eap_ig``      EAP-IG: integrated gradients along the corrupt -> clean path
``attribution.eap_gp``      EAP-GP: the adaptive GradPath
======================  ==================================================================

Every method is a function ``method(model, task, ...) -> Scores`` with the noising sign
convention, checked against :mod:`workbook.patching`. The EAP family's edge scores are accumulated
in head space by :class:`workbook.patching.edge_scorer.EdgeScorer`, which exact edge patching shares.
"""

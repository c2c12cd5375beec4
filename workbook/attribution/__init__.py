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
``attribution.edge_scorer`` the EAP family's edge scores, accumulated in head space
======================  ==================================================================

Every method is a function ``method(model, task, ...) -> Scores`` with the noising sign
convention, checked against :mod:`workbook.patching`.
"""

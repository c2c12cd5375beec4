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
``attribution.backward_rules``  modified backward passes (frozen norms, identity / half rules, softmax temperature)
``attribution.relp``        RelP: LRP coefficients in place of the gradient (nodes and edges)
``attribution.gim``         GIM-style gradient: frozen norms, softmax temperature 2, scaled q/k/v
``attribution.hvp``         AtP + the second-order (Hessian-vector) term, with a reliability score
======================  ==================================================================

Every method is a function ``method(model, task, ...) -> Scores`` with the noising sign
convention, checked against :mod:`workbook.patching`. The EAP family's edge scores are accumulated
in head space by :class:`workbook.patching.edge_scorer.EdgeScorer`, which exact edge patching shares.
"""

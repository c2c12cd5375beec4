"""The planted mistakes that the checks fail but do not (yet) name: ``KNOWN_GAPS``.

Each entry is ``(check, mistake id)`` from tests/planted/; its message is generic or names another cause
with the final probes (docs/checks_planted.md). They must still fail. Every other planted mistake must be
named (tests/test_checks_planted*.py).
"""

KNOWN_GAPS = {
    ('check_qk_fix_queries', 'corrupt keys too'),  # misnamed
    ('check_qk_fix_keys', 'per query, not per key'),  # generic
    ('check_gradpath', 'start point missing'),  # misnamed
    ('check_patch_heads', 'indexes the position axis'),  # generic
    ('check_qk_fix_keys', 'loop skips the last key'),  # misnamed
    ('check_graddrop', 'abs of each factor'),  # generic
    ('check_qk_fix_keys', 'corrupt queries as well'),  # generic
    ('check_graddrop', 'upstream passes left out'),  # misnamed
    ('check_qk_fix_queries', 'keys patched, not queries'),  # generic
    ('check_qk_fix_keys', 'column s only'),  # misnamed
    ('check_eap', "delta of the destination's input"),  # misnamed
    ('check_eap_ig', 'both endpoints clean'),  # misnamed
    ('check_atp_heads', 'positions summed before the product'),  # misnamed
    ('check_atp_heads', 'abs per position before summing'),  # generic
    ('check_qk_fix_keys', 'corrupt query written as the key'),  # misnamed
    ('check_qk_fix_keys', 'keys s.. patched (slice)'),  # misnamed
    ('check_graddrop', 'gradient stopped at layer inputs'),  # misnamed
    ('check_eap', 'EAP position loop skips the last position'),  # misnamed
    ('check_eap_ig', 'straight-through sign'),  # misnamed
    ('check_eap_ig', 'every source interpolated'),  # misnamed
    ('check_eap_ig', 'e_corrupt + alpha * e_clean'),  # misnamed
    ('check_eap_ig', 'gradients at the sources'),  # misnamed
    ('check_gradpath', 'gradients accumulate (.grad not zeroed)'),  # misnamed
    ('check_gradpath', 'whole point divided by the norm'),  # generic
    ('check_gradpath', 'last point replaced by e_corrupt'),  # misnamed
    ('check_verify_top', 'exact - estimate'),  # misnamed
    ('check_atp_heads', 'only the positions whose tokens differ'),  # misnamed
    ('check_graddrop', 'drop set grows: pass l drops layers 0..l'),  # misnamed
    ('check_qk_fix_keys', 'every key but s patched (complement)'),  # generic
    ('check_verify_top', 'edges left out of the verification'),  # misnamed
    ('check_patch_heads', 'no baseline: M(patched) returned'),  # misnamed
    ('check_patch_heads', '(logits, cache) unpacked the wrong way round'),  # misnamed
    ('check_atp_heads', 'norm of delta times norm of gradient, no dot product'),  # misnamed
    ('check_qk_fix_keys', 'patched pattern recomputed from k, not k2'),  # misnamed
    ('check_graddrop', 'per-pass product after the loop (last pass only)'),  # misnamed
    ('check_eap', 'act_names and grad_names swapped'),  # misnamed
    ('check_eap_ig', 'endpoints from hook_resid_pre: positions added twice'),  # misnamed
    ('check_eap_ig', 'alpha-scaled delta, clean gradients only'),  # misnamed
    ('check_eap_ig', "embedding change used as every source's delta"),  # misnamed
    ('check_gradpath', 'Adam optimiser with lr = eta'),  # misnamed
    ('check_verify_top', 'whole top-k list passed to every call'),  # misnamed
    ('check_verify_top', 'a name string passed as nodes/edges'),  # misnamed
    ('check_patch_heads', 'clean batch-mean ablation, no corrupt values'),  # misnamed
    ('check_patch_heads', 'hook_attn_out channel h patched as head h'),  # generic
    ('check_atp_heads', 'activations and gradients unpacked swapped'),  # misnamed
    ('check_atp_heads', 'hook_z read as [batch, head, pos, d_head]'),  # misnamed
    ('check_atp_heads', 'mean over layers instead of the batch'),  # misnamed
    ('check_qk_fix_queries', 'softmax over the head axis'),  # misnamed
    ('check_qk_fix_queries', '|estimate| per example before the batch mean'),  # misnamed
    ('check_qk_fix_keys', 'batch-mean corrupt key'),  # misnamed
    ('check_graddrop', 'no mean over prompt pairs: [B, L, H]'),  # misnamed
    ('check_graddrop', 'removed part of the gradient (g - g_dropped)'),  # misnamed
    ('check_eap_ig', 'interpolation written into hook_pos_embed'),  # misnamed
    ('check_eap_ig', "every prompt pair walks example 0's path"),  # misnamed
    ('check_gradpath', 'hook adds the point to the embedding'),  # misnamed
    ('check_gradpath', 'step divided by the output distance'),  # misnamed
    ('check_verify_top', 'top k chosen by exact effect, estimate ignored'),  # misnamed
    ('check_verify_top', '.k nodes patched as queries'),  # misnamed
    ('check_verify_top', 'return inside the loop: only the first kind verified'),  # misnamed
    ('check_verify_top', 'edge names passed to patch_nodes'),  # misnamed
    ('check_patch_heads', 'layer 0 never patched (loop from 1)'),  # misnamed
    ('check_patch_heads', 'patched forward run after the hooks context closed'),  # misnamed
    ('check_atp_heads', 'sums heads instead of d_head'),  # misnamed
    ('check_qk_fix_queries', 'mean over heads, not the batch'),  # misnamed
    ('check_qk_fix_queries', 'corrupt keys used as the new queries'),  # misnamed
    ('check_qk_fix_keys', 'batch means before the product'),  # misnamed
    ('check_qk_fix_keys', "only the first prompt pair's key patched"),  # misnamed
    ('check_graddrop', 'activations overwritten by a corrupt forward in the hooks context'),  # misnamed
    ('check_graddrop', 'gradient stopped for the first example only'),  # misnamed
    ('check_graddrop', 'every layer dropped in a single pass'),  # misnamed
    ('check_graddrop', "product formed before the pass's backward"),  # misnamed
    ('check_eap', 'MLP source read at the neuron activations'),  # misnamed
    ('check_eap_ig', 'gradient run once, outside the point loop'),  # misnamed
    ('check_eap_ig', 'points shifted one step past the clean input'),  # misnamed
    ('check_eap_ig', "each point's gradient normalised"),  # misnamed
    ('check_gradpath', 'e_corrupt appended as an extra last point'),  # misnamed
    ('check_gradpath', "step divided by the point's norm"),  # misnamed
    ('check_verify_top', 'kind from the last character: MLPs as heads'),  # misnamed
    ('check_patch_heads', 'ph_heads_loop_over_d_head'),  # misnamed
    ('check_patch_heads', 'ph_residual_stream_patched'),  # misnamed
    ('check_patch_heads', 'ph_baseline_inside_hook_context'),  # misnamed
    ('check_patch_heads', 'ph_last_position_corrupt_value_everywhere'),  # misnamed
    ('check_atp_heads', 'atp_d_head_summed_before_product'),  # generic
    ('check_qk_fix_queries', 'qkq_absolute_pattern_change'),  # generic
    ('check_qk_fix_keys', 'qkk_next_layers_pattern_gradient'),  # misnamed
    ('check_qk_fix_keys', 'qkk_absolute_pattern_change'),  # generic
    ('check_graddrop', 'gd_gate_late_binding_last_layer'),  # misnamed
    ('check_graddrop', 'gd_heads_summed'),  # misnamed
    ('check_eap', 'eap_gradient_averaged_over_positions'),  # misnamed
    ('check_eap', 'eap_d_model_summed_before_product'),  # misnamed
    ('check_eap', 'eap_destination_activation_not_gradient'),  # misnamed
    ('check_eap', 'eap_embedding_source_dropped'),  # misnamed
    ('check_eap', 'eap_absolute_gradient'),  # misnamed
    ('check_eap_ig', 'ig_max_over_points'),  # misnamed
    ('check_eap_ig', 'ig_hook_adds_point_to_embedding'),  # misnamed
    ('check_eap_ig', 'ig_division_inside_the_loop'),  # misnamed
    ('check_eap_ig', 'ig_abs_per_point'),  # misnamed
    ('check_eap_ig', 'ig_corrupt_endpoint_mutated_in_place'),  # misnamed
    ('check_gradpath', 'gp_scaled_length_from_the_clean_embedding_norm'),  # misnamed
    ('check_gradpath', 'gp_gradient_norm_over_the_batch_axis'),  # misnamed
    ('check_gradpath', 'gp_gradient_divided_by_l1_norm'),  # misnamed
    ('check_gradpath', 'gp_leaf_and_new_point_both_appended'),  # misnamed
    ('check_gradpath', 'gp_gradient_divided_by_the_straight_distance'),  # misnamed
    ('check_verify_top', 'vt_kind_of_first_name_for_all'),  # misnamed
    ('check_verify_top', 'vt_patch_after_the_kind_loop'),  # misnamed
    ('check_verify_top', 'vt_kind_from_the_part_before_the_dot'),  # misnamed
    ('check_verify_top', 'vt_mlps_left_out'),  # misnamed
    ('check_verify_top', 'vt_group_mean_for_every_name'),  # misnamed
    ('check_patch_heads', 'ph_halfway_mix_of_clean_and_corrupt'),  # misnamed
    ('check_qk_fix_queries', 'qkq_exact_query_patching'),  # misnamed
    ('check_qk_fix_keys', 'qkk_clean_pattern_not_subtracted'),  # misnamed
    ('check_qk_fix_keys', 'qkk_log_softmax_pattern'),  # generic
    ('check_graddrop', 'gd_one_backward_before_the_pass_loop'),  # misnamed
    ('check_graddrop', 'gd_zero_ablation_delta'),  # misnamed
    ('check_eap', 'eap_cosine_similarity_not_dot_product'),  # misnamed
    ('check_eap_ig', 'ig_stacked_gradients_mean_over_destinations'),  # misnamed
    ('check_eap_ig', 'ig_hook_never_passed'),  # misnamed
    ('check_eap_ig', 'ig_all_point_hooks_in_one_run'),  # misnamed
    ('check_gradpath', 'gp_target_probabilities_not_logits'),  # misnamed
    ('check_patch_heads', 'patch_indexes_position_axis'),  # generic
    ('check_qk_fix_keys', 'qkk_patches_all_keys'),  # misnamed
    ('check_eap', 'eap_grads_at_sources'),  # misnamed
    ('check_eap_ig', 'eapig_no_divide_by_m'),  # misnamed
    ('check_eap_ig', 'eapig_zero_baseline'),  # misnamed
    ('check_gradpath', 'gradpath_ascent'),  # misnamed
    ('check_patch_heads', 'ph_hooks_passed_as_bwd_hooks'),  # misnamed
    ('check_patch_heads', 'ph_heads_batched_reshape_transposed'),  # misnamed
    ('check_atp_heads', 'atp_gradient_of_the_sum_of_logits'),  # misnamed
    ('check_qk_fix_queries', 'qkq_last_query_position_never_estimated'),  # misnamed
    ('check_qk_fix_queries', 'qkq_queries_from_t_onward_patched'),  # misnamed
    ('check_qk_fix_queries', 'qkq_query_gradient_not_pattern_gradient'),  # misnamed
    ('check_qk_fix_keys', 'qkk_matmul_without_head_permute'),  # misnamed
    ('check_graddrop', 'gd_gradients_grabbed_at_attn_out'),  # misnamed
    ('check_graddrop', 'gd_normaliser_counts_both_writes'),  # misnamed
    ('check_graddrop', 'gd_gradient_hooks_registered_as_forward_hooks'),  # misnamed
    ('check_eap', 'eap_max_over_positions'),  # misnamed
    ('check_eap_ig', 'ig_rescaled_to_the_metric_gap'),  # misnamed
    ('check_eap_ig', 'ig_per_segment_source_change'),  # misnamed
    ('check_eap_ig', 'ig_return_inside_the_point_loop'),  # misnamed
    ('check_gradpath', 'gp_difference_summed_before_squaring'),  # misnamed
    ('check_gradpath', 'gp_hook_bound_to_the_first_point'),  # misnamed
    ('check_gradpath', 'gp_ascends_the_distance_from_clean'),  # misnamed
    ('check_verify_top', 'vt_groups_from_all_names'),  # misnamed
    ('check_verify_top', 'vt_returned_in_stored_order'),  # misnamed
    ('check_patch_heads', 'ph_position_axis'),  # generic
    ('check_qk_fix_keys', 'qkk_only_column_s'),  # misnamed
    ('check_qk_fix_keys', 'qkk_corrupt_query_too'),  # generic
    ('check_eap', 'eap_grads_at_sources'),  # misnamed
    ('check_eap_ig', 'ig_path_reversed'),  # misnamed
    ('check_eap_ig', 'ig_hook_not_applied'),  # misnamed
    ('check_gradpath', 'gp_gradient_ascent'),  # misnamed
    ('check_atp_heads', 'atp_last_position_dropped'),  # misnamed
    ('check_atp_heads', 'atp_attn_out_gradient_split_into_heads'),  # generic
    ('check_qk_fix_queries', 'qkq_new_pattern_from_clean_queries'),  # misnamed
    ('check_qk_fix_queries', 'qkq_square_root_of_attn_scale'),  # generic
    ('check_qk_fix_keys', 'qkk_rows_before_s_zero_in_new_pattern'),  # misnamed
    ('check_qk_fix_keys', 'qkk_clean_pattern_from_the_corrupt_cache'),  # generic
    ('check_qk_fix_keys', 'qkk_mask_lets_each_query_see_the_next_key'),  # misnamed
    ('check_graddrop', 'gd_abs_per_position_before_summing'),  # misnamed
    ('check_graddrop', 'gd_grab_hook_returns_the_scaled_gradient'),  # misnamed
    ('check_graddrop', 'gd_gate_condition_inverted'),  # generic
    ('check_eap', 'eap_positions_summed_before_product'),  # misnamed
    ('check_eap_ig', 'ig_point_written_into_resid_pre'),  # misnamed
    ('check_gradpath', 'gp_spectral_norm_not_frobenius'),  # misnamed
    ('check_gradpath', 'gp_kl_divergence_not_squared_logit_distance'),  # misnamed
    ('check_gradpath', 'gp_only_the_differing_positions_move'),  # misnamed
    ('check_gradpath', 'gp_sum_of_per_position_norms'),  # misnamed
    ('check_verify_top', 'vt_order_called_with_k'),  # misnamed
    ('check_verify_top', 'vt_values_written_at_the_group_index'),  # misnamed
    ('check_patch_heads', 'ph_abs_per_prompt_pair_before_the_mean'),  # misnamed
    ('check_atp_heads', 'atp_layer_delta_summed_over_heads'),  # generic
    ('check_atp_heads', 'atp_negative_estimates_clamped_to_zero'),  # misnamed
    ('check_atp_heads', 'atp_delta_squared'),  # generic
    ('check_atp_heads', 'atp_gradient_of_the_negated_metric'),  # misnamed
    ('check_qk_fix_queries', 'qkq_score_einsum_with_two_d_head_letters'),  # generic
    ('check_qk_fix_queries', 'qkq_reference_pattern_from_the_corrupt_run'),  # misnamed
    ('check_qk_fix_queries', 'qkq_pattern_gradient_summed_over_heads'),  # generic
    ('check_qk_fix_queries', 'qkq_layer_0_never_estimated'),  # misnamed
    ('check_qk_fix_keys', 'qkk_keys_prescaled_and_scores_scaled_again'),  # misnamed
    ('check_qk_fix_keys', 'qkk_score_scale_left_out_of_the_patched_pattern'),  # misnamed
    ('check_qk_fix_keys', 'qkk_softmax_over_the_head_axis'),  # generic
    ('check_graddrop', 'gd_gate_zeroes_the_gradient_in_place'),  # misnamed
    ('check_graddrop', 'gd_negative_passes_clamped_to_zero'),  # misnamed
    ('check_graddrop', 'gd_first_passes_gradients_kept_for_every_pass'),  # misnamed
    ('check_eap', 'eap_negative_edges_clamped_to_zero'),  # misnamed
    ('check_eap', 'eap_mean_over_every_axis'),  # misnamed
    ('check_eap', 'eap_source_change_squared'),  # misnamed
    ('check_eap', 'eap_non_edges_filled_with_minus_infinity'),  # misnamed
    ('check_eap', 'eap_source_change_paired_with_the_next_positions_gradient'),  # misnamed
    ('check_eap_ig', 'eapig_one_minus_k_without_parentheses'),  # misnamed
    ('check_eap_ig', 'eapig_alphas_squared'),  # misnamed
    ('check_eap_ig', 'eapig_loop_starts_at_two'),  # misnamed
    ('check_eap_ig', 'eapig_floor_division_by_the_number_of_points'),  # misnamed
    ('check_eap_ig', 'eapig_only_edges_out_of_the_embedding_integrated'),  # misnamed
    ('check_gradpath', 'gp_step_sizes_arguments_swapped'),  # misnamed
    ('check_gradpath', 'gp_unit_step_per_coordinate'),  # misnamed
    ('check_gradpath', 'gp_always_scaled_steps'),  # misnamed
    ('check_gradpath', 'gp_step_length_times_the_step_index'),  # misnamed
    ('check_gradpath', 'gp_points_snapped_to_the_nearest_token'),  # misnamed
    ('check_verify_top', 'vt_negative_estimates_dropped'),  # misnamed
    ('check_verify_top', 'vt_ranked_after_normalising_each_kind'),  # misnamed
    ('check_verify_top', 'vt_edges_keep_their_estimates'),  # misnamed
    ('check_verify_top', 'vt_effects_as_shares_of_the_verified_total'),  # misnamed
    ('check_verify_top', 'vt_effects_given_the_estimates_sign'),  # misnamed
    ('check_patch_heads', 'ph_heads_from_h_to_the_end'),  # misnamed
    ('check_patch_heads', 'ph_language_model_loss'),  # generic
    ('check_patch_heads', 'ph_corrupt_value_averaged_over_heads'),  # misnamed
    ('check_patch_heads', 'ph_row_stored_one_layer_up'),  # misnamed
    ('check_atp_heads', 'atp_norm_instead_of_sum'),  # generic
    ('check_atp_heads', 'atp_layer_0_gradient_for_every_layer'),  # misnamed
    ('check_qk_fix_queries', 'qkq_keys_not_summed'),  # misnamed
    ('check_qk_fix_queries', 'qkq_corrupt_query_one_position_late'),  # misnamed
    ('check_qk_fix_queries', 'qkq_exp_without_normalisation'),  # generic
    ('check_qk_fix_keys', 'qkk_abs_per_prompt_pair'),  # misnamed
    ('check_qk_fix_keys', 'qkk_heads_crossed_in_the_score_einsum'),  # generic
    ('check_qk_fix_keys', 'qkk_corrupt_key_s_written_into_every_position'),  # misnamed
    ('check_qk_fix_keys', 'qkk_exp_without_normalisation'),  # generic
    ('check_graddrop', 'gd_normaliser_without_parentheses'),  # misnamed
    ('check_graddrop', 'gd_batch_mean_over_b_minus_1'),  # misnamed
    ('check_graddrop', 'gd_normaliser_counts_the_other_heads'),  # misnamed
    ('check_eap', 'eap_batch_kept_then_mean_over_sources'),  # misnamed
    ('check_eap', 'eap_batch_mean_over_b_minus_1'),  # misnamed
    ('check_eap', 'eap_abs_inside_the_d_model_sum'),  # misnamed
    ('check_eap_ig', 'eapig_both_endpoints_corrupt'),  # misnamed
    ('check_eap_ig', 'eapig_first_point_counted_twice'),  # misnamed
    ('check_eap_ig', 'eapig_alpha_never_multiplied_by_k'),  # misnamed
    ('check_eap_ig', 'eapig_batch_mean_over_b_minus_1'),  # misnamed
    ('check_gradpath', 'gp_one_added_to_the_norm'),  # misnamed
    ('check_gradpath', 'gp_scaled_length_per_position'),  # generic
    ('check_gradpath', 'gp_first_point_recorded_as_e_corrupt'),  # misnamed
    ('check_verify_top', 'vt_slice_from_k'),  # misnamed
    ('check_verify_top', 'vt_dot_test_before_the_edge_test'),  # misnamed
    ('check_verify_top', 'vt_effects_rounded'),  # misnamed
    ('check_verify_top', 'vt_topk_indices_into_the_sorted_list'),  # misnamed
    ('check_patch_heads', 'ph_baseline_kept_per_example'),  # misnamed
    ('check_patch_heads', 'ph_rows_built_by_list_multiplication'),  # misnamed
    ('check_atp_heads', 'atp_delta_missing_parentheses'),  # misnamed
    ('check_atp_heads', 'atp_einsum_output_heads_then_batch'),  # misnamed
    ('check_atp_heads', 'atp_batch_mean_divides_by_len_names'),  # misnamed
    ('check_qk_fix_queries', 'qkq_future_filled_with_plus_infinity'),  # misnamed
    ('check_qk_fix_queries', 'qkq_append_after_the_layer_loop'),  # misnamed
    ('check_qk_fix_queries', 'qkq_list_extended_with_plus_equals'),  # misnamed
    ('check_qk_fix_queries', 'qkq_keys_read_from_hook_v'),  # generic
    ('check_qk_fix_queries', 'qkq_head_0_pattern_gradient_for_every_head'),  # misnamed
    ('check_qk_fix_keys', 'qkk_head_0_corrupt_key_for_every_head'),  # misnamed
    ('check_graddrop', 'gd_each_layer_product_appended_as_a_pass'),  # misnamed
    ('check_graddrop', 'gd_each_layer_scored_in_its_own_pass'),  # misnamed
    ('check_graddrop', 'gd_normaliser_floor_divided'),  # misnamed
    ('check_graddrop', 'gd_abs_delta_times_gradient_summed_over_passes'),  # misnamed
    ('check_graddrop', 'gd_save_hook_returns_a_detached_copy'),  # misnamed
    ('check_eap', 'eap_divided_by_each_destinations_in_degree'),  # misnamed
    ('check_eap', 'eap_multiplied_by_the_batch_size'),  # misnamed
    ('check_eap_ig', 'eapig_path_along_the_unit_direction'),  # misnamed
    ('check_eap_ig', 'eapig_point_written_into_the_last_example_only'),  # misnamed
    ('check_eap_ig', 'eapig_divided_by_the_sum_of_alphas'),  # misnamed
    ('check_eap_ig', 'eapig_batched_points_unfolded_as_pairs_by_steps'),  # misnamed
    ('check_gradpath', 'gp_target_logits_cached_at_one_position'),  # misnamed
    ('check_gradpath', 'gp_target_run_inside_the_embedding_hook'),  # misnamed
    ('check_gradpath', 'gp_gradient_summed_over_positions'),  # misnamed
    ('check_gradpath', 'gp_absolute_gradient'),  # misnamed
    ('check_gradpath', 'gp_scaled_length_from_the_squared_norm'),  # misnamed
    ('check_verify_top', 'vt_first_groups_patch_reused'),  # misnamed
    ('check_patch_heads', 'ph_cat_keeps_head_h_twice'),  # misnamed
    ('check_patch_heads', 'ph_zip_instead_of_nested_loops'),  # misnamed
    ('check_patch_heads', 'ph_head_sliced_as_flat_d_model_block'),  # generic
    ('check_patch_heads', 'ph_patches_original_returns_clone'),  # misnamed
    ('check_atp_heads', 'atp_sum_axes_not_shifted_after_stack'),  # misnamed
    ('check_atp_heads', 'atp_gradient_at_the_midpoint'),  # misnamed
    ('check_atp_heads', 'atp_only_prompts_above_mean_metric'),  # misnamed
    ('check_qk_fix_queries', 'qkq_plain_atp_added_as_a_correction'),  # misnamed
    ('check_qk_fix_queries', 'qkq_scale_truncated_to_int'),  # generic
    ('check_qk_fix_keys', 'qkk_pattern_ignores_its_argument'),  # misnamed
    ('check_qk_fix_keys', 'qkk_scale_written_without_parentheses'),  # misnamed
    ('check_qk_fix_keys', 'qkk_writes_into_original_keys'),  # misnamed
    ('check_qk_fix_keys', 'qkk_mask_inverted_in_place'),  # misnamed
    ('check_graddrop', 'gd_gate_negates_the_gradient'),  # misnamed
    ('check_eap', 'eap_broadcast_product_summed_on_wrong_axes'),  # misnamed
    ('check_eap_ig', 'eapig_hook_built_once_before_the_loop'),  # misnamed
    ('check_eap_ig', 'eapig_divided_by_the_path_length'),  # misnamed
    ('check_eap_ig', 'eapig_path_starts_halfway'),  # misnamed
    ('check_gradpath', 'gp_clamp_max_for_clamp_min'),  # misnamed
    ('check_gradpath', 'gp_step_sizes_given_one_example'),  # misnamed
    ('check_gradpath', 'gp_points_written_one_slot_early'),  # misnamed
    ('check_gradpath', 'gp_multiplied_by_the_gradient_norm'),  # misnamed
    ('check_verify_top', 'vt_names_reassigned_to_the_group'),  # misnamed
    ('check_verify_top', 'vt_scores_arguments_swapped'),  # misnamed
    ('check_patch_heads', 'ph_copies_built_with_repeat_interleave'),  # misnamed
    ('check_patch_heads', 'ph_prompts_cut_like_lm_inputs'),  # misnamed
    ('check_patch_heads', 'ph_zeros_like_instead_of_clone'),  # misnamed
    ('check_atp_heads', 'atp_heads_sorted_within_each_layer'),  # misnamed
    ('check_atp_heads', 'atp_token_zero_masked_as_padding'),  # misnamed
    ('check_atp_heads', 'atp_einsum_without_an_output_spec'),  # misnamed
    ('check_qk_fix_queries', 'qkq_new_queries_rescaled_to_the_clean_norm'),  # generic
    ('check_qk_fix_queries', 'qkq_pattern_change_clamped_at_zero'),  # generic
    ('check_qk_fix_queries', 'qkq_sigmoid_instead_of_softmax'),  # generic
    ('check_qk_fix_queries', 'qkq_clean_pattern_read_from_hook_attn_scores'),  # misnamed
    ('check_qk_fix_keys', 'qkk_softmax_applied_twice'),  # misnamed
    ('check_qk_fix_keys', 'qkk_position_test_broadcast_on_the_last_axis'),  # misnamed
    ('check_qk_fix_keys', 'qkk_patched_column_written_after_the_mask'),  # misnamed
    ('check_qk_fix_keys', 'qkk_rows_sliced_but_not_the_mask'),  # misnamed
    ('check_graddrop', 'gd_gate_index_from_enumerate'),  # generic
    ('check_graddrop', 'gd_gradients_stacked_in_arrival_order'),  # misnamed
    ('check_graddrop', 'gd_kept_gradients_rescaled_like_dropout'),  # misnamed
    ('check_eap', 'eap_per_example_loop_indexes_the_source_axis'),  # misnamed
    ('check_eap_ig', 'eapig_gradients_interpolated_instead_of_inputs'),  # misnamed
    ('check_eap_ig', 'eapig_point_missing_the_corrupt_start'),  # misnamed
    ('check_gradpath', 'gp_scaled_step_from_the_logit_distance'),  # misnamed
    ('check_gradpath', 'gp_heavy_ball_momentum'),  # misnamed
    ('check_gradpath', 'gp_gradient_clamped_instead_of_its_norm'),  # misnamed
    ('check_verify_top', 'vt_update_indented_under_the_node_branch'),  # misnamed
    ('check_patch_heads', 'ph_baseline_subtracted_from_the_row_inside_the_head_loop'),  # misnamed (round 22)
    ('check_qk_fix_queries', 'qkq_diagonal_key_left_out_of_the_sum'),  # misnamed (round 22)
    ('check_qk_fix_queries', 'qkq_scale_read_from_the_head_axis'),  # generic (round 22)
    ('check_qk_fix_keys', 'qkk_sequence_length_read_from_the_head_axis'),  # misnamed (round 22)
    ('check_eap', 'eap_gradients_requested_only_at_the_logits'),  # misnamed (round 22)
    ('check_eap_ig', 'eapig_direction_scaled_in_place'),  # misnamed (round 22)
    ('check_gradpath', 'gp_cdist_pairs_every_position'),  # misnamed (round 22)
    ('check_verify_top', 'vt_node_effect_as_the_sum_of_its_edges'),  # misnamed (round 22)
    ('check_patch_heads', 'ph_corrupt_head_rescaled_to_the_clean_norm'),  # misnamed (round 23, unseen)
    ('check_patch_heads', 'ph_effects_clamped_at_zero'),  # misnamed (round 23, unseen)
    ('check_atp_heads', 'atp_clean_and_corrupt_batched_then_split_interleaved'),  # misnamed (round 23, unseen)
    ('check_atp_heads', 'atp_estimates_rescaled_to_sum_to_the_metric_change'),  # misnamed (round 23, unseen)
    ('check_atp_heads', 'atp_layernorm_scales_frozen'),  # misnamed (round 23, unseen)
    ('check_qk_fix_queries', 'qkq_pattern_change_matrix_multiplied_with_the_gradient'),  # generic (round 23, unseen)
    ('check_qk_fix_queries', 'qkq_corrupt_query_rescaled_to_the_clean_norm'),  # generic (round 23, unseen)
    ('check_qk_fix_queries', 'qkq_pattern_gradient_taken_with_the_queries_patched'),  # misnamed (round 23, unseen)
    ('check_qk_fix_keys', 'qkk_key_loop_over_the_batch_size'),  # misnamed (round 23, unseen)
    ('check_qk_fix_keys', 'qkk_patterns_computed_in_bfloat16'),  # generic (round 23, unseen)
    ('check_qk_fix_keys', 'qkk_rows_concatenated_in_the_wrong_order'),  # misnamed (round 23, unseen)
    ('check_qk_fix_keys', 'qkk_last_corrupt_key_written_at_every_position'),  # misnamed (round 23, unseen)
    ('check_graddrop', 'gd_metric_taken_on_probabilities'),  # misnamed (round 23, unseen)
    ('check_eap', 'eap_divided_by_len_of_the_grads_dict'),  # misnamed (round 23, unseen)
    ('check_eap_ig', 'eapig_m_minus_1_intervals'),  # misnamed (round 23, unseen)
    ('check_eap_ig', 'eapig_endpoints_from_hook_pos_embed'),  # misnamed (round 23, unseen)
    ('check_eap_ig', 'eapig_median_over_points'),  # misnamed (round 23, unseen)
    ('check_gradpath', 'gp_target_is_the_logit_change'),  # misnamed (round 23, unseen)
    ('check_verify_top', 'vt_k_counted_in_heads'),  # misnamed (round 23, unseen)
    ('check_verify_top', 'vt_per_example_mean_over_the_wrong_axis'),  # misnamed (round 23, unseen)
    ('check_patch_heads', 'ph_batch_axis_indexed_with_the_head'),  # generic (round 24, unseen)
    ('check_patch_heads', 'ph_hand_written_logit_diff_over_every_position'),  # generic (round 24, unseen)
    ('check_atp_heads', 'atp_gradient_at_the_blocks_input'),  # misnamed (round 24, unseen)
    ('check_qk_fix_queries', 'qkq_whole_head_change_credited_to_every_query'),  # misnamed (round 24, unseen)
    ('check_qk_fix_queries', 'qkq_fix_only_for_saturated_heads'),  # misnamed (round 24, unseen)
    ('check_qk_fix_queries', 'qkq_cached_pattern_used_as_its_gradient'),  # generic (round 24, unseen)
    ('check_qk_fix_keys', 'qkk_value_at_s_patched_with_the_key'),  # generic (round 24, unseen)
    ('check_qk_fix_keys', 'qkk_key_knocked_out_instead_of_patched'),  # misnamed (round 24, unseen)
    ('check_qk_fix_keys', 'qkk_renormalisation_only_patched_column_left_out'),  # misnamed (round 24, unseen)
    ('check_qk_fix_keys', 'qkk_fix_only_for_saturated_heads'),  # misnamed (round 24, unseen)
    ('check_graddrop', 'gd_one_buffer_reused_for_every_pass'),  # generic (round 24, unseen)
    ('check_graddrop', 'gd_every_layer_input_made_a_leaf'),  # misnamed (round 24, unseen)
    ('check_eap', 'eap_edge_scored_as_product_of_node_attributions'),  # misnamed (round 24, unseen)
    ('check_eap', 'eap_gradient_taken_with_the_source_already_corrupted'),  # misnamed (round 24, unseen)
    ('check_eap', 'eap_caches_aliased_by_a_memoising_helper'),  # misnamed (round 24, unseen)
    ('check_eap_ig', 'eapig_one_path_point_per_prompt_pair'),  # misnamed (round 24, unseen)
    ('check_eap_ig', 'eapig_points_weighted_by_the_metric_increment'),  # misnamed (round 24, unseen)
    ('check_eap_ig', 'eapig_per_point_scores_returned_unaveraged'),  # misnamed (round 24, unseen)
    ('check_gradpath', 'gp_polyak_step_length'),  # misnamed (round 24, unseen)
    ('check_gradpath', 'gp_starts_halfway_between_clean_and_corrupt'),  # generic (round 24, unseen)
    ('check_gradpath', 'gp_step_doubled_by_the_chain_rule_factor'),  # misnamed (round 24, unseen)
    ('check_gradpath', 'gp_clamp_min_applied_to_the_new_point'),  # generic (round 24, unseen)
    ('check_verify_top', 'vt_k_read_as_a_percentage'),  # misnamed (round 24, unseen)
    ('check_verify_top', 'vt_heads_patched_through_their_value_inputs'),  # misnamed (round 24, unseen)
    ('check_verify_top', 'vt_resample_ablation_with_rolled_corrupt_prompts'),  # misnamed (round 24, unseen)
    ('check_patch_heads', 'ph_noising_and_denoising_averaged'),  # misnamed (round 25, unseen)
    ('check_patch_heads', 'ph_stacked_copies_metric_averaged_over_all_copies'),  # misnamed (round 25, unseen)
    ('check_patch_heads', 'ph_one_heads_corrupt_value_broadcast_to_every_head'),  # misnamed (round 25, unseen)
    ('check_atp_heads', 'atp_clean_activations_read_at_hook_q'),  # misnamed (round 25, unseen)
    ('check_atp_heads', 'atp_metric_read_one_position_early'),  # misnamed (round 25, unseen)
    ('check_atp_heads', 'atp_prompt_pairs_weighted_by_clean_metric'),  # misnamed (round 25, unseen)
    ('check_atp_heads', 'atp_estimates_centred_per_layer'),  # misnamed (round 25, unseen)
    ('check_qk_fix_queries', 'qkq_scores_clamped_for_stability'),  # misnamed (round 25, unseen)
    ('check_qk_fix_queries', 'qkq_hard_argmax_patterns'),  # generic (round 25, unseen)
    ('check_qk_fix_queries', 'qkq_returns_only_the_correction_over_plain_atp'),  # misnamed (round 25, unseen)
    ('check_qk_fix_queries', 'qkq_only_the_clean_top_key_counted'),  # generic (round 25, unseen)
    ('check_qk_fix_keys', 'qkk_closed_form_normaliser_keeps_the_old_key'),  # misnamed (round 25, unseen)
    ('check_qk_fix_keys', 'qkk_log_odds_taken_as_log_probability'),  # misnamed (round 25, unseen)
    ('check_qk_fix_keys', 'qkk_hard_argmax_patterns'),  # misnamed (round 25, unseen)
    ('check_qk_fix_keys', 'qkk_closed_form_exp_linearised'),  # misnamed (round 25, unseen)
    ('check_qk_fix_keys', 'qkk_estimate_divided_by_the_keys_the_row_sees'),  # misnamed (round 25, unseen)
    ('check_graddrop', 'gd_random_layers_dropped_like_dropout'),  # misnamed (round 25, unseen)
    ('check_graddrop', 'gd_dropped_writes_scaled_by_a_half'),  # generic (round 25, unseen)
    ('check_graddrop', 'gd_excess_over_abs_atp'),  # misnamed (round 25, unseen)
    ('check_graddrop', 'gd_score_divided_by_abs_atp'),  # misnamed (round 25, unseen)
    ('check_eap', 'eap_logits_gradient_from_the_unembedding_direction'),  # misnamed (round 25, unseen)
    ('check_eap', 'eap_scores_centred_on_the_mean_edge'),  # generic (round 25, unseen)
    ('check_eap', 'eap_relative_source_change'),  # misnamed (round 25, unseen)
    ('check_eap', 'eap_scores_clamped_to_unit_range'),  # misnamed (round 25, unseen)
    ('check_eap_ig', 'eapig_alpha_written_k_plus_one_over_steps'),  # misnamed (round 25, unseen)
    ('check_eap_ig', 'eapig_normalisers_added'),  # misnamed (round 25, unseen)
    ('check_eap_ig', 'eapig_points_counted_by_the_batch_size'),  # misnamed (round 25, unseen)
    ('check_gradpath', 'gp_objective_keeps_the_point_near_e_clean'),  # misnamed (round 25, unseen)
    ('check_gradpath', 'gp_step_length_applied_twice_via_the_norm'),  # misnamed (round 25, unseen)
    ('check_gradpath', 'gp_step_length_per_token'),  # misnamed (round 25, unseen)
    ('check_gradpath', 'gp_step_sizes_for_steps_minus_one_gaps'),  # generic (round 25, unseen)
    ('check_gradpath', 'gp_target_pushed_past_the_corrupt_output'),  # misnamed (round 25, unseen)
    ('check_verify_top', 'vt_exact_averaged_with_the_estimate'),  # misnamed (round 25, unseen)
    ('check_verify_top', 'vt_ranked_on_rounded_estimates'),  # misnamed (round 25, unseen)
    ('check_patch_heads', 'ph_effect_exponentiated_to_an_odds_ratio'),  # misnamed (round 26, unseen)
    ('check_patch_heads', 'ph_negative_head_index'),  # misnamed (round 26, unseen)
    ('check_patch_heads', 'ph_effects_softmaxed_over_heads'),  # misnamed (round 26, unseen)
    ('check_patch_heads', 'ph_head_loop_bounded_by_the_layer_index'),  # misnamed (round 26, unseen)
    ('check_atp_heads', 'atp_gradient_replaced_by_its_sign'),  # generic (round 26, unseen)
    ('check_atp_heads', 'atp_std_over_prompt_pairs'),  # generic (round 26, unseen)
    ('check_atp_heads', 'atp_delta_relative_to_the_clean_norm'),  # generic (round 26, unseen)
    ('check_atp_heads', 'atp_logsumexp_over_positions'),  # misnamed (round 26, unseen)
    ('check_atp_heads', 'atp_gradient_averaged_over_layers'),  # misnamed (round 26, unseen)
    ('check_qk_fix_queries', 'qkq_output_change_norm_instead_of_the_gradient'),  # generic (round 26, unseen)
    ('check_qk_fix_queries', 'qkq_pattern_gradient_averaged_over_query_rows'),  # generic (round 26, unseen)
    ('check_qk_fix_queries', 'qkq_scores_normalised_without_the_exponential'),  # generic (round 26, unseen)
    ('check_qk_fix_queries', 'qkq_pattern_change_divided_by_the_clean_pattern'),  # generic (round 26, unseen)
    ('check_qk_fix_queries', 'qkq_softmax_over_the_batch_axis'),  # misnamed (round 26, unseen)
    ('check_qk_fix_keys', 'qkk_new_score_uses_query_s_for_every_row'),  # misnamed (round 26, unseen)
    ('check_qk_fix_keys', 'qkk_softmax_over_the_batch_axis'),  # misnamed (round 26, unseen)
    ('check_qk_fix_keys', 'qkk_std_over_prompt_pairs'),  # generic (round 26, unseen)
    ('check_qk_fix_keys', 'qkk_relative_pattern_change'),  # generic (round 26, unseen)
    ('check_graddrop', 'gd_gate_keeps_only_the_positive_gradient'),  # generic (round 26, unseen)
    ('check_graddrop', 'gd_median_over_passes'),  # misnamed (round 26, unseen)
    ('check_graddrop', 'gd_std_over_prompt_pairs'),  # misnamed (round 26, unseen)
    ('check_graddrop', 'gd_pass_l_scores_only_heads_below_layer_l'),  # misnamed (round 26, unseen)
    ('check_eap', 'eap_delta_divided_by_the_final_layernorm_scale'),  # misnamed (round 26, unseen)
    ('check_eap', 'eap_sources_stacked_straight_from_the_cache'),  # misnamed (round 26, unseen)
    ('check_eap_ig', 'eapig_root_mean_square_of_the_gradients'),  # misnamed (round 26, unseen)
    ('check_eap_ig', 'eapig_fraction_of_prompt_pairs_switched_to_clean'),  # misnamed (round 26, unseen)
    ('check_eap_ig', 'eapig_point_advanced_by_a_growing_increment'),  # misnamed (round 26, unseen)
    ('check_eap_ig', 'eapig_integrated_gradient_averaged_with_plain_eap'),  # misnamed (round 26, unseen)
    ('check_eap_ig', 'eapig_only_attention_inputs_integrated'),  # misnamed (round 26, unseen)
    ('check_gradpath', 'gp_target_shifted_one_position_like_lm_loss'),  # misnamed (round 26, unseen)
    ('check_gradpath', 'gp_points_projected_back_onto_the_straight_segment'),  # misnamed (round 26, unseen)
    ('check_gradpath', 'gp_straight_direction_removed_from_the_gradient'),  # misnamed (round 26, unseen)
    ('check_gradpath', 'gp_tokens_passed_as_the_attention_mask'),  # generic (round 26, unseen)
    ('check_verify_top', 'vt_effect_shared_among_the_group'),  # misnamed (round 26, unseen)
    ('check_verify_top', 'vt_head_effect_summed_over_its_q_k_v_inputs'),  # misnamed (round 26, unseen)
    ('check_patch_heads', 'ph_head_slice_rebound_not_written'),  # misnamed (round 27, unseen)
    ('check_patch_heads', 'ph_corrupt_hook_v_written_into_z'),  # misnamed (round 27, unseen)
    ('check_patch_heads', 'ph_returns_the_transposed_view'),  # generic (round 27, unseen)
    ('check_atp_heads', 'atp_gradient_at_hook_v_delta_at_hook_z'),  # generic (round 27, unseen)
    ('check_atp_heads', 'atp_positions_weighted_by_the_clean_pattern'),  # misnamed (round 27, unseen)
    ('check_qk_fix_queries', 'qkq_query_moved_halfway'),  # misnamed (round 27, unseen)
    ('check_qk_fix_queries', 'qkq_corrupt_query_averaged_over_heads'),  # misnamed (round 27, unseen)
    ('check_qk_fix_keys', 'qkk_corrupt_key_of_layer_0_for_every_layer'),  # misnamed (round 27, unseen)
    ('check_qk_fix_keys', 'qkk_pattern_change_times_the_clean_pattern'),  # misnamed (round 27, unseen)
    ('check_graddrop', 'gd_gradient_list_indexed_one_layer_back'),  # generic (round 27, unseen)
    ('check_graddrop', 'gd_gate_zeroes_every_position_but_the_last'),  # misnamed (round 27, unseen)
    ('check_graddrop', 'gd_corrupt_output_averaged_over_heads'),  # misnamed (round 27, unseen)
    ('check_graddrop', 'gd_attention_write_gated_at_hook_v'),  # misnamed (round 27, unseen)
    ('check_eap', 'eap_gradient_unit_normalised_per_prompt_pair'),  # misnamed (round 27, unseen)
    ('check_eap', 'eap_gradient_sign_only'),  # misnamed (round 27, unseen)
    ('check_eap_ig', 'eapig_absolute_direction'),  # misnamed (round 27, unseen)
    ('check_eap_ig', 'eapig_positional_embedding_subtracted_from_the_endpoints'),  # misnamed (round 27, unseen)
    ('check_gradpath', 'gp_step_scaled_by_the_remaining_distance_to_corrupt'),  # misnamed (round 27, unseen)
    ('check_gradpath', 'gp_displacement_run_without_adding_e_clean'),  # misnamed (round 27, unseen)
    ('check_gradpath', 'gp_stops_once_the_distance_has_halved'),  # misnamed (round 27, unseen)
    ('check_gradpath', 'gp_gradient_blended_with_the_straight_direction'),  # misnamed (round 27, unseen)
    ('check_gradpath', 'gp_new_point_averaged_with_the_old_one'),  # misnamed (round 27, unseen)
    ('check_atp_heads', 'atp_second_order_term_built_from_the_gradient'),  # misnamed (round 28, unseen)
    ('check_atp_heads', 'atp_gradient_clipped_for_stability'),  # misnamed (round 28, unseen)
    ('check_atp_heads', 'atp_gradient_rescaled_to_unit_norm_per_example'),  # generic (round 28, unseen)
    ('check_qk_fix_queries', 'qkq_stability_shift_taken_over_the_query_axis'),  # generic (round 28, unseen)
    ('check_qk_fix_queries', 'qkq_scores_floor_divided_by_the_scale'),  # generic (round 28, unseen)
    ('check_qk_fix_queries', 'qkq_pattern_gradient_clipped'),  # generic (round 28, unseen)
    ('check_qk_fix_queries', 'qkq_softmax_divided_by_the_row_max'),  # generic (round 28, unseen)
    ('check_qk_fix_keys', 'qkk_query_at_s_patched_with_the_key'),  # misnamed (round 28, unseen)
    ('check_qk_fix_keys', 'qkk_softmax_divided_by_the_row_max'),  # generic (round 28, unseen)
    ('check_qk_fix_keys', 'qkk_patterns_exponentiated_in_half_precision'),  # generic (round 28, unseen)
    ('check_qk_fix_keys', 'qkk_scores_floor_divided_by_the_scale'),  # misnamed (round 28, unseen)
    ('check_graddrop', 'gd_gradients_clipped_for_stability'),  # generic (round 28, unseen)
    ('check_graddrop', 'gd_second_order_term_in_each_pass'),  # misnamed (round 28, unseen)
    ('check_graddrop', 'gd_gradient_rescaled_to_unit_norm_per_example'),  # generic (round 28, unseen)
    ('check_graddrop', 'gd_estimate_per_unit_of_head_change'),  # misnamed (round 28, unseen)
    ('check_eap', 'eap_sources_stacked_mlp_before_heads'),  # misnamed (round 28, unseen)
    ('check_eap', 'eap_layer_attention_output_as_each_heads_write'),  # misnamed (round 28, unseen)
    ('check_eap_ig', 'eapig_gradient_divided_by_alpha'),  # misnamed (round 28, unseen)
    ('check_eap_ig', 'eapig_displacement_added_to_the_clean_runs_embedding'),  # misnamed (round 28, unseen)
    ('check_gradpath', 'gp_distance_over_the_answer_logits_only'),  # misnamed (round 28, unseen)
    ('check_gradpath', 'gp_contrastive_objective_minus_the_clean_distance'),  # misnamed (round 28, unseen)
    ('check_eap_ig', 'eapig_point_interpolated_at_the_last_position_only'),  # misnamed (round 28c, unseen)
    ('check_patch_heads', 'ph_head_pushed_away_from_its_corrupt_value'),  # generic (round 29)
    ('check_atp_heads', 'atp_products_clamped_at_zero_elementwise'),  # generic (round 29)
    ('check_qk_fix_queries', 'qkq_products_clamped_at_zero_elementwise'),  # generic (round 29)
    ('check_qk_fix_keys', 'qkk_patched_pattern_masked_by_the_key_index'),  # misnamed (round 29)
    ('check_eap_ig', 'eapig_linspace_from_one_over_m_with_m_plus_one_points'),  # misnamed (round 29)
    ('check_gradpath', 'gp_first_position_held_fixed'),  # misnamed (round 29)
    ('check_gradpath', 'gp_norm_floored_at_one'),  # misnamed (round 29)
    ('check_graddrop', 'gd_gradient_scaled_in_place_in_the_grab_hook'),  # misnamed (round 29)
    ('check_qk_fix_keys', 'qkk_gradient_rows_not_aligned_with_the_sliced_rows'),  # misnamed (round 29, second half)
    ('check_qk_fix_queries', 'qkq_key_at_t_patched_along_with_the_query'),  # generic (round 29, second half)
    ('check_eap', 'eap_graph_built_as_parallel_blocks'),  # misnamed (round 29, second half)
    ('check_patch_heads', 'ph_assignment_written_the_wrong_way_round'),  # misnamed (round 30)
    ('check_atp_heads', 'atp_attention_patterns_frozen_in_the_backward'),  # misnamed (round 30)
    ('check_atp_heads', 'atp_corrupt_run_masked_where_the_prompts_differ'),  # generic (round 30)
    ('check_atp_heads', 'atp_corrupt_cache_name_reused_for_the_clean_cache'),  # misnamed (round 30)
    ('check_qk_fix_queries', 'qkq_causal_mask_applied_to_the_gradient_not_the_scores'),  # misnamed (round 30)
    ('check_qk_fix_queries', 'qkq_new_patterns_read_from_one_run_with_every_layers_queries_patched'),  # misnamed (round 30)
    ('check_graddrop', 'gd_batch_size_read_from_the_position_axis'),  # misnamed (round 30)
    ('check_graddrop', 'gd_gate_cuts_every_layer_from_l_on'),  # misnamed (round 30)
    ('check_eap', 'eap_positions_restricted_to_where_the_prompts_differ'),  # misnamed (round 30)
    ('check_eap', 'eap_qkv_gradients_summed_per_head'),  # misnamed (round 30)
    ('check_eap_ig', 'eapig_every_other_point'),  # misnamed (round 30)
    ('check_eap_ig', 'eapig_endpoints_read_from_the_stacked_sources_on_the_batch_axis'),  # misnamed (round 30)
    ('check_patch_heads', 'ph_logits_log_softmaxed_over_the_batch_axis'),  # misnamed (round 31, unseen)
    ('check_patch_heads', 'ph_logits_averaged_over_prompt_pairs_before_the_metric'),  # misnamed (round 31, unseen)
    ('check_patch_heads', 'ph_baselines_tuple_used_as_the_clean_metric'),  # generic (round 31, unseen)
    ('check_atp_heads', 'atp_batch_and_position_reductions_swapped'),  # misnamed (round 31, unseen)
    ('check_qk_fix_queries', 'qkq_mask_unsqueezed_on_the_wrong_axis'),  # misnamed (round 31, unseen)
    ('check_qk_fix_queries', 'qkq_attn_scale_of_layer_plus_one'),  # generic (round 31, unseen)
    ('check_qk_fix_keys', 'qkk_resoftmax_over_keys_up_to_s_only'),  # misnamed (round 31, unseen)
    ('check_qk_fix_keys', 'qkk_pattern_closures_late_bound_to_the_last_layer'),  # misnamed (round 31, unseen)
    ('check_qk_fix_keys', 'qkk_abs_of_each_query_rows_contribution'),  # misnamed (round 31, unseen)
    ('check_graddrop', 'gd_pass_keeps_only_layer_l'),  # generic (round 31, unseen)
    ('check_graddrop', 'gd_batch_rescale_done_in_the_gate_hook'),  # misnamed (round 31, unseen)
    ('check_graddrop', 'gd_max_of_graddrop_and_abs_atp'),  # misnamed (round 31, unseen)
    ('check_eap', 'eap_destination_gradient_at_its_output'),  # misnamed (round 31, unseen)
    ('check_eap', 'eap_mask_from_whole_block_indices'),  # misnamed (round 31, unseen)
    ('check_eap', 'eap_k_and_v_gradients_stacked_in_swapped_order'),  # misnamed (round 31, unseen)
    ('check_eap_ig', 'eapig_gradients_times_the_embedding_difference'),  # misnamed (round 31, unseen)
    ('check_gradpath', 'gp_distance_as_per_position_euclidean_norms'),  # misnamed (round 31, unseen)
    ('check_gradpath', 'gp_points_renormalised_to_the_clean_embedding_norm'),  # misnamed (round 31, unseen)
    ('check_verify_top', 'vt_direct_effects_from_effect_split'),  # misnamed (round 31, unseen)
    ('check_verify_top', 'vt_top_k_read_by_index'),  # generic (round 31, unseen)
    ('check_verify_top', 'vt_selected_by_rank_at_most_k'),  # misnamed (round 31, unseen)
    ('check_qk_fix_queries', 'qkq_head_output_change_built_with_the_corrupt_values'),  # misnamed (round 32, unseen)
    ('check_qk_fix_keys', 'qkk_mean_over_pairs_whose_key_changed'),  # misnamed (round 32, unseen)
    ('check_qk_fix_keys', 'qkk_patched_key_prescaled_by_attn_scale'),  # misnamed (round 32, unseen)
    ('check_graddrop', 'gd_write_names_appended_to_the_head_names_list'),  # misnamed (round 32, unseen)
    ('check_graddrop', 'gd_batch_summed_and_passes_averaged'),  # misnamed (round 32, unseen)
    ('check_eap', 'eap_head_writes_permuted_batch_and_position_swapped'),  # misnamed (round 32, unseen)
    ('check_eap', 'eap_mlp_write_delta_divided_among_its_destinations'),  # misnamed (round 32, unseen)
    ('check_eap_ig', 'eapig_source_and_destination_positions_summed_separately'),  # misnamed (round 32, unseen)
    ('check_eap_ig', 'eapig_running_mean_divided_by_k_plus_one'),  # misnamed (round 32, unseen)
    ('check_eap_ig', 'eapig_straight_through_without_subtracting_t'),  # misnamed (round 32, unseen)
    ('check_eap_ig', 'eapig_difference_typed_as_a_sum'),  # misnamed (round 32, unseen)
    ('check_eap_ig', 'eapig_corrupt_weight_off_by_one'),  # misnamed (round 32, unseen)
    ('check_qk_fix_queries', 'qkq_clean_pattern_averaged_over_prompts'),  # misnamed (round 33, unseen)
    ('check_qk_fix_keys', 'qkk_gradient_row_s_for_every_query_row'),  # misnamed (round 33, unseen)
    ('check_qk_fix_keys', 'qkk_reference_pattern_with_every_key_corrupt'),  # generic (round 33, unseen)
    ('check_qk_fix_keys', 'qkk_closed_form_other_keys_not_divided_by_old_remainder'),  # misnamed (round 33, unseen)
    ('check_qk_fix_keys', 'qkk_new_score_column_read_from_the_corrupt_run'),  # misnamed (round 33, unseen)
    ('check_graddrop', 'gd_gate_returns_ones_not_zeros'),  # misnamed (round 33, unseen)
    ('check_eap', 'eap_mlp_destination_gradient_after_its_layernorm'),  # misnamed (round 33, unseen)
}

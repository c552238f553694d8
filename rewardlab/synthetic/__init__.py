"""A controlled synthetic text-to-image dataset with complete ground truth.

Collins et al. (Experiment 2) argue that to study fine-grained feedback one
needs a domain where the attributes behind the coarse target are known
exactly. This package renders simple scenes (coloured shapes, counts,
spatial relations, actions as motion cues) from a structured spec, writes
the prompt that describes the spec, applies known defects (misalignments
with their exact prompt tokens and image points; blur, noise, exposure,
clutter, local distortions at recorded points) and varies the style, then
derives the answer to every preset attribute (RichHF, ImageReward, TIA2,
Collins) and a coarse ``overall_good`` from a configurable decision tree.

Pure Python + numpy + Pillow: no Django import (``annotator.tokens`` and
``annotator.presets`` are plain modules).

    images = generate(100, 4, seed=7)
    write_dataset("var/synthetic-7", images)
"""
from rewardlab.synthetic.dataset import (GENERATOR, SyntheticImage, generate, iter_generate, make_image,
                                         manifest_row, write_dataset)
from rewardlab.synthetic.defects import MISALIGNMENT_KINDS, Distortion, Misalignment, Quality, distortion_box
from rewardlab.synthetic.render import QUALITY_STAGES, render_scene
from rewardlab.synthetic.spec import COLOURS, PALETTE, SHAPES, Entity, SceneSpec, sample_spec
from rewardlab.synthetic.style import Style
from rewardlab.synthetic.truth import (COLLINS_ALIGNMENT, COLLINS_QUALITY, LINEAR, TREES, XOR, Node,
                                       compute_truth, evaluate_tree, preference_score, ranking_levels,
                                       resolve_tree, sxs_choice, tree_attributes, tree_to_json,
                                       truth_response_values, truth_to_response_value)

__all__ = [
    "GENERATOR", "SyntheticImage", "generate", "iter_generate", "make_image", "manifest_row", "write_dataset",
    "MISALIGNMENT_KINDS", "Distortion", "Misalignment", "Quality", "distortion_box",
    "QUALITY_STAGES", "render_scene",
    "COLOURS", "PALETTE", "SHAPES", "Entity", "SceneSpec", "sample_spec", "Style",
    "COLLINS_ALIGNMENT", "COLLINS_QUALITY", "LINEAR", "TREES", "XOR", "Node", "compute_truth", "evaluate_tree",
    "preference_score", "ranking_levels", "resolve_tree", "sxs_choice", "tree_attributes", "tree_to_json",
    "truth_response_values", "truth_to_response_value",
]

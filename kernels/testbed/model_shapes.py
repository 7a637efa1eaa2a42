"""The engine's weight tensors of a catalogue model, without PyTorch (the controller sizes
checkpoints with it)."""
import json
import math
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_arch(name):
    with open(os.path.join(REPO, "models", "llm", name + ".json")) as f:
        return json.load(f)["architecture"]


def weight_spec(a):
    """(name, shape) of every tensor, in checkpoint order, for catalogue architecture `a`."""
    h, d, hq, hkv, f, v = (a["hidden_size"], a["head_dim"], a["attention_heads"], a["kv_heads"],
                           a["ffn_size"], a["vocab_size"])
    gated = a["ffn_kind"] == "gated"
    ln = a.get("norm", "layernorm") == "layernorm"
    spec = [("embed", (v, h))]
    if a.get("position_embeddings", 0):
        spec.append(("pos_embed", (a["position_embeddings"], h)))
    for i in range(a["layers"]):
        p = f"layers.{i}."
        spec += [(p + "norm1.w", (h,))] + ([(p + "norm1.b", (h,))] if ln else [])
        spec.append((p + "qkv.w", ((hq + 2 * hkv) * d, h)))
        if a.get("qkv_bias"):
            spec.append((p + "qkv.b", ((hq + 2 * hkv) * d,)))
        if a.get("qk_norm"):
            spec += [(p + "q_norm.w", (d,)), (p + "k_norm.w", (d,))]
        spec.append((p + "o.w", (h, hq * d)))
        if a.get("out_bias"):
            spec.append((p + "o.b", (h,)))
        spec += [(p + "norm2.w", (h,))] + ([(p + "norm2.b", (h,))] if ln else [])
        if is_moe_layer(a, i):
            # Experts stacked [experts, out, in] like nn.Linear's [out, in], for one grouped GEMM.
            m = a["moe"]
            e, fe = m["routed_experts"], m["expert_ffn_size"]
            spec += [(p + "router.w", (e, h)), (p + "experts.gate_up.w", (e, 2 * fe, h)),
                     (p + "experts.down.w", (e, h, fe))]
            if m.get("shared_experts"):
                fs = m["shared_experts"] * fe
                spec += [(p + "gate_up.w", (2 * fs, h)), (p + "down.w", (h, fs))]
        elif gated:
            spec += [(p + "gate_up.w", (2 * f, h)), (p + "down.w", (h, f))]
        else:
            spec.append((p + "fc1.w", (f, h)))
            if a.get("mlp_bias"):
                spec.append((p + "fc1.b", (f,)))
            spec.append((p + "fc2.w", (h, f)))
            if a.get("mlp_bias"):
                spec.append((p + "fc2.b", (h,)))
    spec += [("final_norm.w", (h,))] + ([("final_norm.b", (h,))] if ln else [])
    if not a.get("tied_embeddings"):
        spec.append(("lm_head", (v, h)))
    return spec


def is_moe_layer(a, i):
    """Whether layer i's FFN is routed experts (gated experts only: every catalogue MoE is)."""
    m = a.get("moe")
    return bool(m) and i >= m.get("dense_layers_first", 0)


def flat_buffer_bytes(arch):
    """Bytes of the engine's flat bf16 weight buffer: every tensor padded to 128 elements
    (256-byte aligned views, engine.Weights)."""
    return sum(2 * ((math.prod(shape) + 127) // 128 * 128) for _, shape in weight_spec(arch))

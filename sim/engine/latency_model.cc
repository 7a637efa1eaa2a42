#include "sim/engine/latency_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "sim/core/errors.h"

namespace slsim {

double all_reduce_seconds(double bytes, int64_t tensor_parallel, double interconnect_gbytes_per_s) {
  if (tensor_parallel <= 1 || bytes <= 0) return 0;
  const auto p = static_cast<double>(tensor_parallel);
  return 2 * (p - 1) / p * bytes / (interconnect_gbytes_per_s * 1e9);
}

double all_to_all_seconds(double bytes, int64_t gpus, double interconnect_gbytes_per_s) {
  if (gpus <= 1 || bytes <= 0) return 0;
  const auto p = static_cast<double>(gpus);
  return bytes / p * (p - 1) / p / (interconnect_gbytes_per_s * 1e9);
}

CommunicationBytes communication_bytes(const ModelSpec& model, bool expert_parallel) {
  const Architecture& a = model.architecture;
  const auto hidden_bytes = static_cast<double>(a.hidden_size) * 2;
  if (!expert_parallel || !a.moe) return {2.0 * static_cast<double>(a.layers * a.hidden_size) * 2, 0};
  // After attention in every layer and after the FFN of the dense ones; an MoE layer's tokens
  // go out to their experts and come back.
  return {static_cast<double>(a.layers + model.dense_ffn_layers()) * hidden_bytes,
          static_cast<double>(model.moe_layers()) * 2 * static_cast<double>(a.moe->experts_per_token) * hidden_bytes};
}

RooflineLatency::RooflineLatency(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                                 const RooflineParams& params, bool expert_parallel)
    : weight_bytes_(model.shared_weight_bytes()),
      linear_flops_per_token_(2.0 * static_cast<double>(model.linear_parameters())),
      attention_flops_per_pair_(
          static_cast<double>(model.architecture.layers * model.attention_flops_per_pair_per_layer())),
      kv_bytes_per_token_(static_cast<double>(model.kv_bytes_per_token())),
      flops_per_s_(gpu.dense_fp16_tflops * 1e12 * params.compute_efficiency * static_cast<double>(tensor_parallel)),
      bytes_per_s_(gpu.hbm_bandwidth_gbytes_per_s * 1e9 * params.memory_efficiency *
                   static_cast<double>(tensor_parallel)),
      communication_bytes_(communication_bytes(model, expert_parallel)),
      tensor_parallel_(tensor_parallel),
      interconnect_gbytes_per_s_(gpu.interconnect_gbytes_per_s),
      overhead_(Time::from_ms(params.step_overhead_ms)) {
  if (const auto& moe = model.architecture.moe) {
    routing_.emplace(moe->routed_experts, moe->experts_per_token, moe->expert_skew);
    routed_expert_bytes_all_layers_ = static_cast<double>(model.moe_layers()) * model.routed_expert_bytes();
  }
}

Time LatencyModel::run_step_times(StepShape shape, int64_t steps, Time* times) const {
  Time total = Time::zero();
  for (int64_t k = 0; k < steps; ++k) {
    const Time t = step_time(shape);
    times[k] = t;
    total += t;
    shape.decode_context_tokens += shape.decode_sequences;
  }
  return total;
}

double RooflineLatency::communication_seconds(double tokens) const {
  return communication_bytes_.seconds(tokens, tensor_parallel_, interconnect_gbytes_per_s_);
}

Time RooflineLatency::step_time(const StepShape& shape) const {
  const double tokens = static_cast<double>(shape.prefill_tokens + shape.decode_sequences);
  return time_of(tokens, static_cast<double>(shape.decode_context_tokens), shape.prefill_attention_pairs,
                 communication_seconds(tokens), weight_bytes(tokens));
}

Time RooflineLatency::run_step_times(StepShape shape, int64_t steps, Time* times) const {
  const double tokens = static_cast<double>(shape.prefill_tokens + shape.decode_sequences);
  const double communication = communication_seconds(tokens);
  const double weights = weight_bytes(tokens);
  // Context counts are integers far below 2^53, so stepping them as doubles is exact.
  const auto first_context = static_cast<double>(shape.decode_context_tokens);
  const auto growth = static_cast<double>(shape.decode_sequences);
  // Writes step k's time_at(k, its context) to times[k] and returns their sum.
  const auto run = [&](auto time_at) {
    Time total = Time::zero();
    double context = first_context;
    for (int64_t k = 0; k < steps; ++k, context += growth) {
      const Time t = time_at(k, context);
      times[k] = t;
      total += t;
    }
    return total;
  };
  const int64_t last = shape.decode_context_tokens + steps - 1;
  if (shape.decode_sequences == 1 && shape.prefill_tokens == 0 && shape.prefill_attention_pairs == 0 &&
      last < kMaxTabulatedContext) {
    if (lone_decode_by_context_.size() <= static_cast<size_t>(last))
      lone_decode_by_context_.resize(static_cast<size_t>(last) + 1, Time::from_ns(-1));
    return run([&](int64_t k, double context) {
      Time& t = lone_decode_by_context_[static_cast<size_t>(shape.decode_context_tokens + k)];
      if (t < Time::zero()) t = time_of(tokens, context, 0, communication, weights);
      return t;
    });
  }
  // Flops and bytes both grow linearly over the run, so a margin at its first and last steps
  // holds at every step in between: max() is the bytes term throughout, and the flops need
  // not be computed (decode is memory-bound but for huge batches; near the crossover, both).
  const double last_context = static_cast<double>(shape.decode_context_tokens + (steps - 1) * shape.decode_sequences);
  if (clearly_memory_bound(tokens, first_context, shape.prefill_attention_pairs, weights) &&
      clearly_memory_bound(tokens, last_context, shape.prefill_attention_pairs, weights))
    return run([&](int64_t, double context) { return memory_bound_time_of(tokens, context, communication, weights); });
  return run([&](int64_t, double context) {
    return time_of(tokens, context, shape.prefill_attention_pairs, communication, weights);
  });
}

double interpolate_loglog(const std::vector<double>& xs, const std::vector<double>& ys, double x) {
  if (x <= xs.front()) return ys.front();
  if (x >= xs.back()) return ys.back() * x / xs.back();
  const size_t hi = static_cast<size_t>(std::upper_bound(xs.begin(), xs.end(), x) - xs.begin());
  const size_t lo = hi - 1;
  const double f = std::log(x / xs[lo]) / std::log(xs[hi] / xs[lo]);
  return std::exp(std::log(ys[lo]) + f * (std::log(ys[hi]) - std::log(ys[lo])));
}

double interpolate_grid(const std::vector<double>& rows, const std::vector<double>& cols,
                        const std::vector<double>& values, double row, double col) {
  const double smallest = *std::min_element(values.begin(), values.end());
  auto along_cols = [&](size_t r) {
    const auto begin = values.begin() + static_cast<std::ptrdiff_t>(r * cols.size());
    if (col < cols.front()) return std::max(smallest, *begin * col / cols.front());
    const std::vector<double> line(begin, begin + static_cast<std::ptrdiff_t>(cols.size()));
    return interpolate_loglog(cols, line, col);
  };
  if (row <= rows.front()) return along_cols(0);
  if (row >= rows.back()) return along_cols(rows.size() - 1) * row / rows.back();
  const size_t hi = static_cast<size_t>(std::upper_bound(rows.begin(), rows.end(), row) - rows.begin());
  return interpolate_loglog({rows[hi - 1], rows[hi]}, {along_cols(hi - 1), along_cols(hi)}, row);
}

namespace {

void check_axis(const std::vector<double>& xs, const std::string& path) {
  if (xs.empty()) throw ConfigError(path, "expected at least one measured point");
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!(xs[i] > 0)) throw ConfigError(path + "[" + std::to_string(i) + "]", "expected a positive value");
    if (i > 0 && xs[i] <= xs[i - 1])
      throw ConfigError(path + "[" + std::to_string(i) + "]", "expected ascending values");
  }
}

void check_values(const std::vector<double>& ys, size_t expected, const std::string& path) {
  if (ys.size() != expected) throw ConfigError(path, fmt::format("expected {} values, got {}", expected, ys.size()));
  for (size_t i = 0; i < ys.size(); ++i)
    if (!(ys[i] > 0)) throw ConfigError(path + "[" + std::to_string(i) + "]", "expected a positive time");
}

void check_attention(const std::vector<AttentionTable>& tables, const std::string& path) {
  for (size_t i = 0; i < tables.size(); ++i) {
    const std::string p = path + "[" + std::to_string(i) + "]";
    check_axis(tables[i].batch, p + ".batch");
    check_axis(tables[i].context, p + ".context");
    check_values(tables[i].us, tables[i].batch.size() * tables[i].context.size(), p + ".us");
  }
}

}  // namespace

void check_prefill_token_buckets(const std::vector<int64_t>& buckets, const std::string& path) {
  if (!buckets.empty()) check_axis(std::vector<double>(buckets.begin(), buckets.end()), path);
}

CalibrationProfile load_calibration(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open the calibration file (docs/calibration.md says how to make one)");
  std::stringstream text;
  text << in.rdbuf();
  const Json document = parse_json(text.str(), path);
  CalibrationProfile profile;
  try {
    JsonReader::read_struct(document, "", profile);
    for (const auto& [name, tables] : {std::pair{"gemm", &profile.gemm}, std::pair{"fp8_gemm", &profile.fp8_gemm}}) {
      for (size_t i = 0; i < tables->size(); ++i) {
        const std::string p = fmt::format("{}[{}]", name, i);
        check_axis((*tables)[i].tokens, p + ".tokens");
        check_values((*tables)[i].us, (*tables)[i].tokens.size(), p + ".us");
      }
    }
    for (size_t i = 0; i < profile.grouped_gemm.size(); ++i) {
      const std::string p = "grouped_gemm[" + std::to_string(i) + "]";
      check_axis(profile.grouped_gemm[i].assignments, p + ".assignments");
      check_values(profile.grouped_gemm[i].us, profile.grouped_gemm[i].assignments.size(), p + ".us");
    }
    check_attention(profile.paged_attention, "paged_attention");
    check_attention(profile.prefill_attention, "prefill_attention");
    for (size_t i = 0; i < profile.elementwise.size(); ++i) {
      const std::string p = "elementwise[" + std::to_string(i) + "]";
      check_axis(profile.elementwise[i].tokens, p + ".tokens");
      check_values(profile.elementwise[i].us, profile.elementwise[i].tokens.size(), p + ".us");
    }
    for (size_t i = 0; i < profile.engine_profiles.size(); ++i) {
      const EngineProfile& e = profile.engine_profiles[i];
      const std::string p = "engine_profiles[" + std::to_string(i) + "]";
      if (e.name == kEagerProfile) throw ConfigError(p + ".name", "\"eager\" names the base tables; expected another");
      for (size_t j = 0; j < i; ++j)
        if (profile.engine_profiles[j].name == e.name) throw ConfigError(p + ".name", "\"" + e.name + "\" twice");
      for (size_t k = 0; k < e.elementwise.size(); ++k) {
        const std::string q = p + ".elementwise[" + std::to_string(k) + "]";
        check_axis(e.elementwise[k].tokens, q + ".tokens");
        check_values(e.elementwise[k].us, e.elementwise[k].tokens.size(), q + ".us");
      }
      check_prefill_token_buckets(e.prefill_token_buckets, p + ".prefill_token_buckets");
    }
    profile.engine_profile(profile.default_engine_profile, "default_engine_profile", path);
    check_startup(profile.startup, "startup");
  } catch (const ConfigError& e) {
    throw InputError(path + ": " + e.what());
  }
  return profile;
}

const EngineProfile* CalibrationProfile::engine_profile(const std::string& name, const std::string& path,
                                                        const std::string& file) const {
  const std::string& wanted = name.empty() ? default_engine_profile : name;
  if (wanted == kEagerProfile) return nullptr;
  std::string names = kEagerProfile;
  for (const EngineProfile& e : engine_profiles) {
    if (e.name == wanted) return &e;
    names += ", " + e.name;
  }
  throw ConfigError(path, "no engine profile \"" + wanted + "\" in " + file + "; expected one of: " + names);
}

CalibratedLatency::CalibratedLatency(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                                     int64_t block_size, const RooflineParams& roofline,
                                     const CalibrationProfile& profile, const std::string& engine_profile,
                                     bool expert_parallel)
    : profile_(profile),
      layers_(static_cast<double>(model.architecture.layers)),
      flops_per_s_(gpu.dense_fp16_tflops * 1e12 * roofline.compute_efficiency),
      bytes_per_s_(gpu.hbm_bandwidth_gbytes_per_s * 1e9 * roofline.memory_efficiency),
      bytes_per_value_(model.bytes_per_parameter()),
      communication_bytes_(communication_bytes(model, expert_parallel)),
      tensor_parallel_(tensor_parallel),
      interconnect_gbytes_per_s_(gpu.interconnect_gbytes_per_s),
      overhead_us_(profile.step_overhead_us) {
  const Architecture& a = model.architecture;
  const auto tp = static_cast<double>(tensor_parallel);
  const auto tp_heads = [&](int64_t heads) { return std::max<int64_t>(1, heads / tensor_parallel); };
  kv_bytes_per_token_per_gpu_per_layer_ =
      static_cast<double>(model.kv_bytes_per_token()) / static_cast<double>(a.layers) / tp;
  attention_flops_per_pair_per_gpu_per_layer_ = static_cast<double>(model.attention_flops_per_pair_per_layer()) / tp;

  // Megatron's split: q/k/v and the FFN's first matrix by output columns, the attention
  // output and the FFN's last matrix by input rows; the output head by vocabulary. MLA's
  // down-projections and the router are small and replicated.
  enum class Split : uint8_t { out, in, none };
  struct Shape {
    const char* layer;
    int64_t in, out;
    Split split;
    double layers;
    const std::string* dtype;
  };
  const std::string& linear_dtype = model.linear_weight_dtype();
  const auto all_layers = static_cast<double>(a.layers);
  std::vector<Shape> shapes;
  if (a.mla) {
    const MlaArchitecture& mla = *a.mla;
    const int64_t q_head = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
    if (mla.q_lora_rank > 0) {
      shapes.push_back({"q_a_proj", a.hidden_size, mla.q_lora_rank, Split::none, all_layers, &linear_dtype});
      shapes.push_back(
          {"q_b_proj", mla.q_lora_rank, a.attention_heads * q_head, Split::out, all_layers, &linear_dtype});
    } else {
      shapes.push_back({"q_proj", a.hidden_size, a.attention_heads * q_head, Split::out, all_layers, &linear_dtype});
    }
    shapes.push_back(
        {"kv_a_proj", a.hidden_size, mla.kv_lora_rank + mla.qk_rope_head_dim, Split::none, all_layers, &linear_dtype});
    shapes.push_back({"kv_b_proj", mla.kv_lora_rank, a.attention_heads * (mla.qk_nope_head_dim + mla.v_head_dim),
                      Split::out, all_layers, &linear_dtype});
    shapes.push_back(
        {"o_proj", a.attention_heads * mla.v_head_dim, a.hidden_size, Split::in, all_layers, &linear_dtype});
  } else {
    const int64_t q = a.attention_heads * a.head_dim;
    const int64_t kv = a.kv_heads * a.head_dim;
    shapes.push_back({"qkv_proj", a.hidden_size, q + 2 * kv, Split::out, all_layers, &linear_dtype});
    shapes.push_back({"o_proj", q, a.hidden_size, Split::in, all_layers, &linear_dtype});
  }
  const bool gated = a.ffn_kind == "gated";
  const auto add_ffn = [&](int64_t width, double layers, const char* first, const char* last) {
    if (layers == 0 || width == 0) return;
    shapes.push_back({first, a.hidden_size, (gated ? 2 : 1) * width, Split::out, layers, &linear_dtype});
    shapes.push_back({last, width, a.hidden_size, Split::in, layers, &linear_dtype});
  };
  add_ffn(a.ffn_size, static_cast<double>(model.dense_ffn_layers()), gated ? "gate_up_proj" : "fc1",
          gated ? "down_proj" : "fc2");
  if (a.moe) {
    const auto moe_layers = static_cast<double>(model.moe_layers());
    // Shared experts run as one dense FFN of their summed width.
    add_ffn(a.moe->shared_experts * a.moe->expert_ffn_size, moe_layers,
            gated ? "shared_experts.gate_up_proj" : "shared_experts.fc1",
            gated ? "shared_experts.down_proj" : "shared_experts.fc2");
    shapes.push_back({"router", a.hidden_size, a.moe->routed_experts, Split::none, moe_layers, &model.dtype});
  }
  auto resolve = [&](const Shape& s) {
    Linear l;
    l.in = static_cast<double>(s.split == Split::in ? s.in / tensor_parallel : s.in);
    l.out = static_cast<double>(s.split == Split::out ? s.out / tensor_parallel : s.out);
    l.count = s.layers;
    l.weight_bytes_per_value = dtype_bytes(*s.dtype);
    // A quantized layer runs other kernels at other speeds: only its own type's tables count.
    const std::vector<GemmTable>* tables = is_16_bit(*s.dtype) ? &profile_.gemm
                                           : *s.dtype == "fp8" ? &profile_.fp8_gemm
                                                               : nullptr;
    const bool measurable = tables != nullptr;
    auto find = [&](double in, double out) -> const GemmTable* {
      if (!measurable) return nullptr;
      for (const GemmTable& t : *tables)
        if (static_cast<double>(t.in_features) == in && static_cast<double>(t.out_features) == out) return &t;
      return nullptr;
    };
    if ((l.table = find(l.in, l.out))) return l;
    if (tensor_parallel > 1 && s.split != Split::none &&
        (l.table = find(static_cast<double>(s.in), static_cast<double>(s.out)))) {
      l.scale = 1 / tp;
      estimates_.push_back(
          fmt::format("{} {}x{}: the unsplit shape's time / {} GPUs", s.layer, s.in, s.out, tensor_parallel));
      return l;
    }
    if (measurable)
      estimates_.push_back(fmt::format("{} {}x{}: roofline (shape not measured)", s.layer, l.in, l.out));
    else
      estimates_.push_back(
          fmt::format("{} {}x{} {}: roofline (no {} GEMM measured)", s.layer, l.in, l.out, *s.dtype, *s.dtype));
    return l;
  };
  for (const Shape& s : shapes) layer_linears_.push_back(resolve(s));
  lm_head_ = resolve(Shape{"lm_head", a.hidden_size, a.vocab_size, Split::out, 1, &model.dtype});
  if (a.moe) {
    const MoeArchitecture& moe = *a.moe;
    routing_.emplace(moe.routed_experts, moe.experts_per_token, moe.expert_skew);
    routed_expert_layers_ = static_cast<double>(model.moe_layers());
    routed_expert_weights_per_gpu_ = static_cast<double>(model.expert_weights()) / tp;
    routed_expert_bytes_per_gpu_ = model.routed_expert_bytes() / tp;
    routed_expert_width_ = static_cast<double>(a.hidden_size);
    routing_experts_per_token_ = moe.experts_per_token;
    // Expert parallel: each GPU holds whole experts and takes its share of the token copies;
    // otherwise every GPU holds a 1/tp slice of every expert and takes every copy.
    const bool sharded_experts = expert_parallel && tensor_parallel > 1;
    const int64_t local_experts = sharded_experts ? moe.routed_experts / tensor_parallel : moe.routed_experts;
    const int64_t local_ffn = sharded_experts ? moe.expert_ffn_size : moe.expert_ffn_size / tensor_parallel;
    expert_rows_per_token_ = static_cast<double>(moe.experts_per_token) / (sharded_experts ? tp : 1);
    const std::string& expert_dtype = model.expert_weight_dtype();
    const std::string table_dtype = is_16_bit(expert_dtype) ? "bf16" : expert_dtype;
    auto find_grouped = [&](int64_t in, int64_t out) -> const GroupedGemmTable* {
      for (const GroupedGemmTable& t : profile_.grouped_gemm)
        if (t.dtype == table_dtype && t.experts == local_experts && t.in_features == in && t.out_features == out)
          return &t;
      return nullptr;
    };
    experts_gate_up_ = find_grouped(a.hidden_size, (gated ? 2 : 1) * local_ffn);
    experts_down_ = find_grouped(local_ffn, a.hidden_size);
    if (!experts_gate_up_ || !experts_down_) {
      experts_gate_up_ = experts_down_ = nullptr;
      estimates_.push_back(fmt::format(
          "routed experts ({} of {} per GPU, {}x{} {}): roofline over the experts touched (grouped GEMM not "
          "measured)",
          moe.experts_per_token, local_experts, a.hidden_size, local_ffn, expert_dtype));
    } else if (moe.expert_skew > 0) {
      estimates_.push_back(
          fmt::format("routed experts: grouped GEMM measured with uniform routing (expert_skew {} "
                      "not applied to it)",
                      moe.expert_skew));
    }
  }

  auto find_attention = [&](const std::vector<AttentionTable>& tables, int64_t kv_block_size) -> const AttentionTable* {
    for (const AttentionTable& t : tables)
      if (t.q_heads == tp_heads(a.attention_heads) && t.kv_heads == tp_heads(a.kv_heads) && t.head_dim == a.head_dim &&
          (kv_block_size == 0 || t.block_size == kv_block_size))
        return &t;
    return nullptr;
  };
  const std::string kv_dtype = model.kv_cache_dtype();
  if (a.mla) {
    estimates_.push_back("paged and prefill attention: roofline (multi-head latent attention not measured)");
  } else {
    // The tables read a 16-bit cache; an fp8 cache reads half the bytes through other kernels.
    if (is_16_bit(kv_dtype)) decode_table_ = find_attention(profile_.paged_attention, block_size);
    prefill_table_ = find_attention(profile_.prefill_attention, 0);
    const std::string heads =
        fmt::format("{}/{} heads x {}", tp_heads(a.attention_heads), tp_heads(a.kv_heads), a.head_dim);
    if (!decode_table_ && !is_16_bit(kv_dtype))
      estimates_.push_back(
          fmt::format("paged attention {}, {} KV cache: roofline (measured for 16-bit caches only)", heads, kv_dtype));
    else if (!decode_table_)
      estimates_.push_back(fmt::format("paged attention {}, block {}: roofline (not measured)", heads, block_size));
    if (!prefill_table_) estimates_.push_back("prefill attention " + heads + ": roofline (not measured)");
  }

  elementwise_ = choose_elementwise(profile_.elementwise, a, "elementwise kernels");
  graph_ = profile_.engine_profile(engine_profile, "engine.profile", "the calibration profile of " + profile_.gpu);
  if (graph_) {
    graph_elementwise_ = choose_elementwise(graph_->elementwise, a, graph_->name + " elementwise kernels");
    if (!graph_->prefill_elementwise.empty())
      graph_prefill_elementwise_ =
          choose_elementwise(graph_->prefill_elementwise, a, graph_->name + " prefill elementwise kernels");
  }
  if ((elementwise_.table || graph_elementwise_.table) && tensor_parallel > 1)
    estimates_.push_back("elementwise kernels: the unsplit layer's time (norms and residuals are not split)");
  // A table measured on this very model includes its routing (softmax, top-k, permutation).
  const auto dense_stand_in = [&](const Elementwise& e) { return e.table && e.table->model != model.name; };
  if (a.moe && (dense_stand_in(elementwise_) || dense_stand_in(graph_elementwise_) ||
                dense_stand_in(graph_prefill_elementwise_)))
    estimates_.push_back("elementwise kernels: a dense layer's stand in for MoE layers (routing not measured)");
  if (tensor_parallel > 1) estimates_.push_back("all-reduce: ring over the interconnect bandwidth (not measured)");
  if (tensor_parallel > 1 && communication_bytes_.all_to_all_per_token > 0)
    estimates_.push_back(
        "all-to-all: expert-parallel dispatch and combine over the interconnect bandwidth (not measured)");
}

CalibratedLatency::Elementwise CalibratedLatency::choose_elementwise(const std::vector<ElementwiseTable>& tables,
                                                                     const Architecture& a, const std::string& what) {
  // Another model's layer of the same kind stands in, scaled by hidden size: past the launch
  // floor these kernels stream activations of hidden (and proportionate FFN) width.
  const ElementwiseTable* nearest = nullptr;
  for (const ElementwiseTable& t : tables) {
    if (t.ffn_kind != a.ffn_kind) continue;
    if (t.hidden_size == a.hidden_size && t.ffn_size == a.ffn_size) {
      nearest = &t;
      break;
    }
    if (!nearest || std::abs(t.hidden_size - a.hidden_size) < std::abs(nearest->hidden_size - a.hidden_size))
      nearest = &t;
  }
  Elementwise chosen{nearest, 1};
  if (!nearest) {
    estimates_.push_back(what + ": not measured (left out)");
  } else if (nearest->hidden_size != a.hidden_size || nearest->ffn_size != a.ffn_size) {
    chosen.scale = static_cast<double>(a.hidden_size) / static_cast<double>(nearest->hidden_size);
    estimates_.push_back(
        fmt::format("{}: {}'s layer x {:.3g} (hidden size ratio)", what, nearest->model, chosen.scale));
  }
  return chosen;
}

double CalibratedLatency::roofline_gemm_us(double in, double out, double tokens, double weight_bytes_per_value) const {
  const double flops = 2 * tokens * in * out;
  const double bytes = in * out * weight_bytes_per_value + tokens * (in + out) * bytes_per_value_;
  return std::max(flops / flops_per_s_, bytes / bytes_per_s_) * 1e6;
}

double CalibratedLatency::routed_experts_us(double tokens) const {
  if (experts_gate_up_) {
    const double rows = tokens * expert_rows_per_token_;
    return interpolate_loglog(experts_gate_up_->assignments, experts_gate_up_->us, rows) +
           interpolate_loglog(experts_down_->assignments, experts_down_->us, rows);
  }
  // Each token multiplies by its top-k experts; the weights of every expert touched are read once.
  const double flops = 2 * tokens * static_cast<double>(routing_experts_per_token_) * routed_expert_weights_per_gpu_;
  const double bytes =
      routing_->expected_distinct_experts(tokens) * routed_expert_bytes_per_gpu_ +
      2 * tokens * static_cast<double>(routing_experts_per_token_) * routed_expert_width_ * bytes_per_value_;
  return std::max(flops / flops_per_s_, bytes / bytes_per_s_) * 1e6;
}

double CalibratedLatency::linear_us(const Linear& l, double tokens) const {
  if (!l.table) return roofline_gemm_us(l.in, l.out, tokens, l.weight_bytes_per_value);
  return interpolate_loglog(l.table->tokens, l.table->us, tokens) * l.scale;
}

Time CalibratedLatency::step_time(const StepShape& shape) const {
  const double tokens = static_cast<double>(shape.prefill_tokens + shape.decode_sequences);
  const bool graph_prefill = shape.prefill_tokens > 0 && graph_prefill_elementwise_.table;
  return step_time_running(shape, graph_prefill ? graph_->padded_prefill_tokens(tokens) : tokens);
}

Time CalibratedLatency::step_time_running(const StepShape& shape, double run_tokens) const {
  const bool replayed =
      graph_ && shape.prefill_tokens == 0 && shape.decode_sequences > 0 && shape.decode_sequences <= graph_->max_batch;
  const bool graph_prefill = shape.prefill_tokens > 0 && graph_prefill_elementwise_.table;
  const auto sequences = static_cast<double>(shape.prefill_sequences + shape.decode_sequences);
  double us = replayed || graph_prefill ? graph_->step_overhead_us + graph_->per_sequence_us * sequences : overhead_us_;
  for (const Linear& l : layer_linears_) us += l.count * linear_us(l, run_tokens);
  if (routing_ && run_tokens > 0) us += routed_expert_layers_ * routed_experts_us(run_tokens);
  const Elementwise& elementwise = replayed        ? graph_elementwise_
                                   : graph_prefill ? graph_prefill_elementwise_
                                                   : elementwise_;
  if (elementwise.table)
    us +=
        layers_ * elementwise.scale * interpolate_loglog(elementwise.table->tokens, elementwise.table->us, run_tokens);
  // Logits only for each sequence's last position.
  us += linear_us(lm_head_, sequences);
  if (shape.decode_sequences > 0) {
    const auto batch = static_cast<double>(shape.decode_sequences);
    const double context = static_cast<double>(shape.decode_context_tokens) / batch;
    if (decode_table_) {
      us += layers_ * interpolate_grid(decode_table_->batch, decode_table_->context, decode_table_->us, batch, context);
    } else {
      us += layers_ * static_cast<double>(shape.decode_context_tokens) * kv_bytes_per_token_per_gpu_per_layer_ /
            bytes_per_s_ * 1e6;
    }
  }
  if (shape.prefill_tokens > 0) {
    const auto batch = static_cast<double>(shape.prefill_sequences);
    const double length = static_cast<double>(shape.prefill_tokens) / batch;
    if (prefill_table_) {
      // The table holds equal prompts; unequal ones are scaled by their query-key pairs.
      const double pairs_of_equal = batch * length * length / 2;
      us += layers_ *
            interpolate_grid(prefill_table_->batch, prefill_table_->context, prefill_table_->us, batch, length) *
            shape.prefill_attention_pairs / pairs_of_equal;
    } else {
      us += layers_ * shape.prefill_attention_pairs * attention_flops_per_pair_per_gpu_per_layer_ / flops_per_s_ * 1e6;
    }
  }
  // A padded graph exchanges its padded tokens' activations too.
  const double communication = communication_bytes_.seconds(run_tokens, tensor_parallel_, interconnect_gbytes_per_s_);
  return Time::from_seconds(us * 1e-6 + communication);
}

}  // namespace slsim

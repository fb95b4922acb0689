// Lowering of a GraphIR into steps (plan.h): shape inference and checks, int64 shape arithmetic
// evaluated once, composite ops (Gemm, Conv bias, BatchNormalization, LayerNormalization) expressed
// through the primitive steps so that each primitive's four passes are written once.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "models/graph/plan.h"

namespace saddlescope::models::graph::detail {

std::int64_t element_count(const Shape& shape) {
  std::int64_t count = 1;
  for (const auto e : shape) count *= e;
  return count;
}

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

// Largest element count of one value (the index maps are int32).
constexpr std::int64_t kMaxElements = std::numeric_limits<std::int32_t>::max();

Shape strides_of(const Shape& shape) {
  Shape s(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

class Lowering {
 public:
  Lowering(const GraphIR& ir, std::int64_t batch, BatchNormMode mode, std::vector<BatchNormInfo>* batch_norms)
      : ir_(ir), c_(std::make_unique<Compiled>()), batch_norms_(batch_norms) {
    c_->batch = batch;
    c_->mode = mode;
  }

  std::unique_ptr<Compiled> run() {
    const auto& in = ir_.input;
    if (in.shape.empty()) throw std::invalid_argument("graph input '" + in.name + "' has no shape");
    Shape shape = in.shape;
    shape[0] = c_->batch;
    for (std::size_t i = 1; i < shape.size(); ++i)
      if (shape[i] < 1)
        throw std::invalid_argument("graph input '" + in.name + "' has a non-positive per-sample extent " +
                                    shape_string(in.shape));
    c_->input = add_value(in.name, shape, ValueKind::input, false);
    std::int64_t offset = 0;
    for (const auto& p : ir_.parameters) {
      check_float(p, "parameter");
      const int id = add_value(p.name, p.value.shape, ValueKind::parameter, true);
      c_->values[id].offset = offset;
      offset += p.value.element_count();
    }
    for (const auto& t : ir_.buffers) {
      check_float(t, "buffer");
      const int id = add_value(t.name, t.value.shape, ValueKind::constant, false);
      c_->values[id].data = t.value.f64.data();
    }
    for (const auto& t : ir_.constants) {
      if (t.value.type == ElementType::int64) {
        statics_[t.name] = &t.value;
      } else {
        check_float(t, "constant");
        const int id = add_value(t.name, t.value.shape, ValueKind::constant, false);
        c_->values[id].data = t.value.f64.data();
        statics_[t.name] = &t.value;
      }
    }
    for (const auto& node : ir_.nodes) lower(node);
    const auto it = ids_.find(ir_.output);
    if (it == ids_.end()) throw std::invalid_argument("graph output '" + ir_.output + "' is not produced by the graph");
    c_->output = it->second;
    const Value& out = c_->values[c_->output];
    if (out.shape.size() != 2 || out.shape[0] != c_->batch)
      throw std::invalid_argument("graph output '" + ir_.output + "' has shape " + shape_string(out.shape) +
                                  ", expected [batch, outputs] with batch " + std::to_string(c_->batch));
    if (!out.active) throw std::invalid_argument("graph output '" + ir_.output + "' does not depend on the parameters");
    for (const auto& v : c_->values)
      if (v.active) c_->active_numel += v.numel;
    return std::move(c_);
  }

 private:
  // --- values ------------------------------------------------------------------------------------
  int add_value(const std::string& name, const Shape& shape, ValueKind kind, bool active) {
    for (const auto e : shape)
      if (e < 0) throw std::invalid_argument("value '" + name + "' has a negative extent " + shape_string(shape));
    Value v;
    v.name = name;
    v.shape = shape;
    v.numel = 1;
    for (const auto e : shape) {
      if (e != 0 && v.numel > kMaxElements / e)
        throw std::invalid_argument("value '" + name + "' of shape " + shape_string(shape) + " has more than " +
                                    std::to_string(kMaxElements) + " elements");
      v.numel *= e;
    }
    v.kind = kind;
    v.active = active;
    c_->values.push_back(std::move(v));
    const int id = static_cast<int>(c_->values.size()) - 1;
    if (!ids_.emplace(name, id).second && kind != ValueKind::computed)
      throw std::invalid_argument("value name '" + name + "' is defined twice");
    ids_[name] = id;
    return id;
  }
  static void check_float(const NamedTensor& t, const char* what) {
    if (t.value.type != ElementType::float64)
      throw std::invalid_argument(std::string(what) + " '" + t.name + "' is not float64");
    if (static_cast<std::int64_t>(t.value.f64.size()) != t.value.element_count())
      throw std::invalid_argument(std::string(what) + " '" + t.name + "' has " + std::to_string(t.value.f64.size()) +
                                  " values for shape " + shape_string(t.value.shape));
  }
  // A runtime value for a name: a float value, or a float static materialised as a constant.
  int value_id(const Node& node, const std::string& name) {
    const auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    const auto s = statics_.find(name);
    if (s != statics_.end()) {
      const Tensor& t = *s->second;
      if (t.type != ElementType::float64) fail(node, "input '" + name + "' is an int64 tensor where float data is needed");
      const int id = add_value(name, t.shape, ValueKind::constant, false);
      c_->values[id].data = t.f64.data();
      return id;
    }
    fail(node, "input '" + name + "' is not defined before the node");
  }
  const Value& value(int id) const { return c_->values[id]; }
  int computed(const Node& node, const std::string& name, const Shape& shape, bool active) {
    (void)node;
    return add_value(name, shape, ValueKind::computed, active);
  }
  bool is_static(const std::string& name) const { return statics_.count(name) > 0 && ids_.count(name) == 0; }
  const Tensor& static_tensor(const Node& node, const std::string& name) const {
    const auto s = statics_.find(name);
    if (s == statics_.end()) fail(node, "input '" + name + "' must be a constant (shape arithmetic)");
    return *s->second;
  }
  std::vector<std::int64_t> static_ints(const Node& node, const std::string& name) const {
    const Tensor& t = static_tensor(node, name);
    if (t.type == ElementType::int64) return t.i64;
    std::vector<std::int64_t> v;
    for (const double d : t.f64) v.push_back(static_cast<std::int64_t>(d));
    return v;
  }
  void set_static(const std::string& name, Tensor t) {
    owned_statics_.push_back(std::make_unique<Tensor>(std::move(t)));
    statics_[name] = owned_statics_.back().get();
  }

  [[noreturn]] static void fail(const Node& node, const std::string& what) {
    throw std::invalid_argument("node '" + node.name + "' (" + node.op_type + "): " + what);
  }

  // --- attributes --------------------------------------------------------------------------------
  static const Attribute* find(const Node& n, const std::string& key) {
    const auto it = n.attributes.find(key);
    return it == n.attributes.end() ? nullptr : &it->second;
  }
  static std::int64_t attr_int(const Node& n, const std::string& key, std::int64_t fallback) {
    const Attribute* a = find(n, key);
    if (!a) return fallback;
    if (const auto* v = std::get_if<std::int64_t>(a)) return *v;
    fail(n, "attribute '" + key + "' is not an integer");
  }
  static double attr_float(const Node& n, const std::string& key, double fallback) {
    const Attribute* a = find(n, key);
    if (!a) return fallback;
    if (const auto* v = std::get_if<double>(a)) return *v;
    if (const auto* v = std::get_if<std::int64_t>(a)) return static_cast<double>(*v);
    fail(n, "attribute '" + key + "' is not a number");
  }
  static std::vector<std::int64_t> attr_ints(const Node& n, const std::string& key, std::vector<std::int64_t> fallback) {
    const Attribute* a = find(n, key);
    if (!a) return fallback;
    if (const auto* v = std::get_if<std::vector<std::int64_t>>(a)) return *v;
    fail(n, "attribute '" + key + "' is not a list of integers");
  }
  static std::string attr_string(const Node& n, const std::string& key, const std::string& fallback) {
    const Attribute* a = find(n, key);
    if (!a) return fallback;
    if (const auto* v = std::get_if<std::string>(a)) return *v;
    fail(n, "attribute '" + key + "' is not a string");
  }

  static std::int64_t normalize_axis(const Node& n, std::int64_t axis, std::int64_t rank, bool allow_end = false) {
    const std::int64_t r = allow_end ? rank + 1 : rank;
    if (axis < -r || axis >= r) fail(n, "axis " + std::to_string(axis) + " is outside a rank-" + std::to_string(rank) + " tensor");
    return axis < 0 ? axis + r : axis;
  }
  const std::string& input(const Node& n, std::size_t i) const {
    if (i >= n.inputs.size() || n.inputs[i].empty()) fail(n, "missing input " + std::to_string(i));
    return n.inputs[i];
  }
  static bool has_input(const Node& n, std::size_t i) { return i < n.inputs.size() && !n.inputs[i].empty(); }
  static const std::string& output(const Node& n) {
    if (n.outputs.empty() || n.outputs[0].empty()) fail(n, "has no output");
    return n.outputs[0];
  }

  // --- broadcasting ------------------------------------------------------------------------------
  static Shape broadcast_shape(const Node& n, const Shape& a, const Shape& b) {
    const std::size_t r = std::max(a.size(), b.size());
    Shape out(r);
    for (std::size_t i = 0; i < r; ++i) {
      const std::int64_t ea = i + a.size() >= r ? a[i + a.size() - r] : 1;
      const std::int64_t eb = i + b.size() >= r ? b[i + b.size() - r] : 1;
      if (ea != eb && ea != 1 && eb != 1)
        fail(n, "shapes " + shape_string(a) + " and " + shape_string(b) + " do not broadcast");
      out[i] = ea == 1 ? eb : ea;
    }
    return out;
  }
  // Source index in an operand of shape `a` for every element of `out` (empty when a == out).
  static std::vector<std::int32_t> broadcast_map(const Shape& a, const Shape& out) {
    if (a == out) return {};
    const std::size_t r = out.size();
    Shape stride(r, 0);
    const Shape sa = strides_of(a);
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != 1) stride[r - a.size() + i] = sa[i];
    std::vector<std::int32_t> map(static_cast<std::size_t>(element_count(out)));
    Shape idx(r, 0);
    std::int64_t src = 0;
    for (std::size_t e = 0; e < map.size(); ++e) {
      map[e] = static_cast<std::int32_t>(src);
      for (std::size_t d = r; d-- > 0;) {
        ++idx[d];
        src += stride[d];
        if (idx[d] < out[d]) break;
        src -= stride[d] * idx[d];
        idx[d] = 0;
      }
    }
    return map;
  }

  static std::vector<std::int32_t> identity_map(std::int64_t count) {
    std::vector<std::int32_t> map(static_cast<std::size_t>(count));
    std::iota(map.begin(), map.end(), 0);
    return map;
  }

  // --- step builders -------------------------------------------------------------------------------
  Step& add_step(const Node& n, StepKind kind, std::vector<int> inputs, int out) {
    Step s;
    s.kind = kind;
    s.node = "'" + n.name + "' (" + n.op_type + ")";
    s.inputs = std::move(inputs);
    s.output = out;
    c_->steps.push_back(std::move(s));
    return c_->steps.back();
  }
  bool any_active(const std::vector<int>& ids) const {
    for (const int i : ids)
      if (value(i).active) return true;
    return false;
  }
  int copy(const Node& n, int x, const Shape& shape, const std::string& name) {
    if (element_count(shape) != value(x).numel)
      fail(n, "cannot reshape " + shape_string(value(x).shape) + " to " + shape_string(shape));
    if (value(x).kind == ValueKind::constant) {  // a constant keeps its data under the new shape
      const int id = add_value(name, shape, ValueKind::constant, false);
      c_->values[id].data = value(x).data;
      return id;
    }
    const int out = computed(n, name, shape, value(x).active);
    add_step(n, StepKind::copy, {x}, out);
    return out;
  }
  int binary(const Node& n, BinaryOp op, int a, int b, const std::string& name) {
    const Shape shape = broadcast_shape(n, value(a).shape, value(b).shape);
    const int out = computed(n, name, shape, value(a).active || value(b).active);
    Step& s = add_step(n, StepKind::binary, {a, b}, out);
    s.binary = op;
    s.map_a = broadcast_map(value(a).shape, shape);
    s.map_b = broadcast_map(value(b).shape, shape);
    affine_rows(s, value(a).numel, value(b).numel, element_count(shape));
    return out;
  }
  // The closed form of a binary step's maps (Step::row_length), when one row length L fits both.
  static void affine_rows(Step& s, std::int64_t na, std::int64_t nb, std::int64_t n) {
    if (n < 1) return;
    const std::vector<std::int32_t>* maps[2] = {&s.map_a, &s.map_b};
    const std::int64_t counts[2] = {na, nb};
    for (const std::int64_t L : {n, na, nb, na > 0 ? n / na : 0, nb > 0 ? n / nb : 0}) {
      if (L < 1 || n % L != 0) continue;
      bool ok = true;
      std::array<std::int64_t, 2> row{}, elem{};
      for (int k = 0; k < 2 && ok; ++k) {
        // same shape, scalar, a row vector repeated (trailing broadcast), one value per row
        if (counts[k] == n) row[k] = L, elem[k] = 1;
        else if (counts[k] == 1) row[k] = 0, elem[k] = 0;
        else if (counts[k] == L) row[k] = 0, elem[k] = 1;
        else if (counts[k] == n / L) row[k] = 1, elem[k] = 0;
        else ok = false;
        const auto& map = *maps[k];
        for (std::int64_t i = 0; i < n && ok; ++i)
          if ((map.empty() ? i : map[i]) != (i / L) * row[k] + (i % L) * elem[k]) ok = false;
      }
      if (!ok) continue;
      s.row_length = L;
      s.row_step = row;
      s.elem_step = elem;
      return;
    }
  }
  int unary(const Node& n, UnaryOp op, int x, double scalar, const std::string& name) {
    const int out = computed(n, name, value(x).shape, value(x).active);
    Step& s = add_step(n, StepKind::unary, {x}, out);
    s.unary = op;
    s.scalar = scalar;
    s.workspace = c_->workspaces++;
    return out;
  }
  int scalar_constant(double v, const std::string& name) {
    c_->constant_storage.push_back(std::make_unique<std::vector<double>>(1, v));
    const int id = add_value(name, {}, ValueKind::constant, false);
    c_->values[id].data = c_->constant_storage.back()->data();
    return id;
  }
  int gather(const Node& n, int x, const Shape& shape, std::vector<std::int32_t> source, const std::string& name) {
    const int out = computed(n, name, shape, value(x).active);
    Step& s = add_step(n, StepKind::gather, {x}, out);
    s.map_a = std::move(source);
    return out;
  }
  // y = mean of x over `axes` (sorted, distinct), output shape with those extents 1 (keepdims) or removed.
  int reduce_mean(const Node& n, int x, const std::vector<std::int64_t>& axes, bool keepdims, const std::string& name) {
    const Shape in = value(x).shape;
    Shape kept = in, out;
    std::int64_t count = 1;
    for (const auto a : axes) {
      count *= in[a];
      kept[a] = 1;
    }
    for (std::size_t i = 0; i < in.size(); ++i)
      if (keepdims || std::find(axes.begin(), axes.end(), static_cast<std::int64_t>(i)) == axes.end()) out.push_back(kept[i]);
    if (count == 0) fail(n, "mean over an empty extent");
    // target per input element = broadcast map of the kept shape, read in the other direction
    const int id = computed(n, name, out, value(x).active);
    Step& s = add_step(n, StepKind::reduce_mean, {x}, id);
    s.map_a = broadcast_map(kept, in);
    if (s.map_a.empty()) s.map_a = identity_map(value(x).numel);
    s.scalar = 1.0 / static_cast<double>(count);
    return id;
  }
  int matmul(const Node& n, int a, int b, bool trans_a, bool trans_b, double alpha, const std::string& name) {
    const Shape sa = value(a).shape;
    const Shape sb = value(b).shape;
    if (sa.size() < 2 || sb.size() < 2)  // MatMul's rank-1 operands are reshaped before this (lower())
      fail(n, "operands of rank < 2 are not supported (shapes " + shape_string(sa) + ", " + shape_string(sb) + ")");
    const std::int64_t M = trans_a ? sa[sa.size() - 1] : sa[sa.size() - 2];
    const std::int64_t K = trans_a ? sa[sa.size() - 2] : sa[sa.size() - 1];
    const std::int64_t Kb = trans_b ? sb[sb.size() - 1] : sb[sb.size() - 2];
    const std::int64_t N = trans_b ? sb[sb.size() - 2] : sb[sb.size() - 1];
    if (K != Kb) fail(n, "inner extents differ: " + shape_string(sa) + " × " + shape_string(sb));
    const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
    const Shape bc = broadcast_shape(n, ba, bb);
    Shape out = bc;
    out.push_back(M);
    out.push_back(N);
    const int id = computed(n, name, out, value(a).active || value(b).active);
    Step& s = add_step(n, StepKind::matmul, {a, b}, id);
    s.M = M;
    s.K = K;
    s.N = N;
    s.trans_a = trans_a;
    s.trans_b = trans_b;
    s.scalar = alpha;
    s.lda = trans_a ? M : K;  // dense storage
    s.ldb = trans_b ? K : N;
    s.ldc = N;
    const auto ma = broadcast_map(ba, bc), mb = broadcast_map(bb, bc);
    const std::int64_t items = element_count(bc);
    if (items > 1 && element_count(bb) == 1 && ma.empty() && !trans_a) {
      // A weight shared by every batch item ([B, T, D] × [D, E]): the items' rows stack into one
      // [items·M, K] × [K, N] product (the same dot products, one wide GEMM instead of `items` small ones).
      s.M = items * M;
      s.batches.push_back({0, 0, 0});
      return id;
    }
    for (std::int64_t i = 0; i < items; ++i)
      s.batches.push_back({(ma.empty() ? i : ma[i]) * M * K, (mb.empty() ? i : mb[i]) * K * N, i * M * N});
    return id;
  }
  // Broadcast shape of a per-channel vector [C] against x [B, C, d...]: [C, 1, ..., 1].
  int channel_view(const Node& n, int v, std::size_t rank, const std::string& name) {
    Shape shape{value(v).numel};
    for (std::size_t i = 2; i < rank; ++i) shape.push_back(1);
    return copy(n, v, shape, name);
  }

  // --- static (shape) arithmetic ------------------------------------------------------------------
  // Nodes all of whose inputs are statics are evaluated here when the op is one shape arithmetic
  // uses; returns false to lower the node as a runtime step instead.
  bool evaluate_static(const Node& n) {
    static const char* kOps[] = {"Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice",
                                 "Add", "Sub", "Mul", "Div", "Reshape", "Identity", "ConstantOfShape", "Equal",
                                 "Where", "Range", "Neg", "Flatten", "Sqrt", "Expand", "Transpose"};
    bool known = false;
    for (const char* op : kOps) known = known || n.op_type == op;
    if (!known) return false;
    if (n.op_type == "Shape") {
      // The input may itself be shape arithmetic (an int64 static): torch's export of
      // `t.expand(t.shape[0], ...)` takes the Shape of the Reshape'd target shape.
      const std::string& in = input(n, 0);
      const Shape& shape = is_static(in) ? static_tensor(n, in).shape : value(value_id(n, in)).shape;
      const auto rank = static_cast<std::int64_t>(shape.size());
      std::int64_t start = attr_int(n, "start", 0), end = attr_int(n, "end", rank);
      if (start < 0) start += rank;
      if (end < 0) end += rank;
      start = std::clamp<std::int64_t>(start, 0, rank);
      end = std::clamp<std::int64_t>(end, start, rank);
      Tensor t;
      t.type = ElementType::int64;
      t.shape = {end - start};
      t.i64.assign(shape.begin() + start, shape.begin() + end);
      set_static(output(n), std::move(t));
      return true;
    }
    if (n.op_type == "Constant") {
      Tensor t;
      if (const Attribute* a = find(n, "value")) {
        if (const auto* v = std::get_if<Tensor>(a)) t = *v;
        else fail(n, "attribute 'value' is not a tensor");
      } else if (const Attribute* f = find(n, "value_float")) {
        t.f64 = {std::get<double>(*f)};
      } else if (const Attribute* fs = find(n, "value_floats")) {
        t.f64 = std::get<std::vector<double>>(*fs);
        t.shape = {static_cast<std::int64_t>(t.f64.size())};
      } else if (const Attribute* i = find(n, "value_int")) {
        t.type = ElementType::int64;
        t.i64 = {std::get<std::int64_t>(*i)};
      } else if (const Attribute* is = find(n, "value_ints")) {
        t.type = ElementType::int64;
        t.i64 = std::get<std::vector<std::int64_t>>(*is);
        t.shape = {static_cast<std::int64_t>(t.i64.size())};
      } else {
        fail(n, "has no supported value attribute");
      }
      const std::size_t have = t.type == ElementType::int64 ? t.i64.size() : t.f64.size();
      if (static_cast<std::int64_t>(have) != t.element_count()) fail(n, "value does not match its shape");
      set_static(output(n), std::move(t));
      return true;
    }
    for (const auto& in : n.inputs)
      if (!in.empty() && !is_static(in)) return false;
    std::vector<const Tensor*> ins;
    for (const auto& in : n.inputs) ins.push_back(in.empty() ? nullptr : &static_tensor(n, in));
    set_static(output(n), static_op(n, ins));
    return true;
  }

  static std::vector<double> as_doubles(const Tensor& t) {
    if (t.type == ElementType::float64) return t.f64;
    return std::vector<double>(t.i64.begin(), t.i64.end());
  }
  static Tensor make(ElementType type, Shape shape, const std::vector<double>& values) {
    Tensor t;
    t.type = type;
    t.shape = std::move(shape);
    if (type == ElementType::float64) t.f64 = values;
    else
      for (const double v : values) t.i64.push_back(static_cast<std::int64_t>(v));
    return t;
  }
  // Gather of a static tensor's elements by a source index map.
  static Tensor gather_static(const Tensor& t, Shape shape, const std::vector<std::int32_t>& map) {
    Tensor out;
    out.type = t.type;
    out.shape = std::move(shape);
    const auto count = element_count(out.shape);
    for (std::int64_t i = 0; i < count; ++i) {
      const auto src = map.empty() ? i : map[i];
      if (t.type == ElementType::int64) out.i64.push_back(t.i64[src]);
      else out.f64.push_back(t.f64[src]);
    }
    return out;
  }

  Tensor static_op(const Node& n, const std::vector<const Tensor*>& in) {
    const std::string& op = n.op_type;
    const Tensor& x = *in.at(0);
    if (op == "Identity") return x;
    if (op == "Cast") {
      const auto to = attr_int(n, "to", 1);
      // ONNX TensorProto: 1 FLOAT, 11 DOUBLE, 6 INT32, 7 INT64, 9 BOOL
      const ElementType type = (to == 1 || to == 10 || to == 11 || to == 16) ? ElementType::float64 : ElementType::int64;
      return make(type, x.shape, as_doubles(x));
    }
    if (op == "Neg" || op == "Sqrt") {
      auto v = as_doubles(x);
      for (auto& e : v) e = op == "Neg" ? -e : std::sqrt(e);
      return make(op == "Neg" ? x.type : ElementType::float64, x.shape, v);
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Equal") {
      const Tensor& y = *in.at(1);
      const Shape shape = broadcast_shape(n, x.shape, y.shape);
      const auto ma = broadcast_map(x.shape, shape), mb = broadcast_map(y.shape, shape);
      const auto a = as_doubles(x), b = as_doubles(y);
      const bool ints = x.type == ElementType::int64 && y.type == ElementType::int64;
      std::vector<double> r(static_cast<std::size_t>(element_count(shape)));
      for (std::size_t i = 0; i < r.size(); ++i) {
        const double u = a[ma.empty() ? i : ma[i]], v = b[mb.empty() ? i : mb[i]];
        if (op == "Add") r[i] = u + v;
        else if (op == "Sub") r[i] = u - v;
        else if (op == "Mul") r[i] = u * v;
        else if (op == "Equal") r[i] = u == v;
        else {
          if (ints && v == 0) fail(n, "integer division by zero");
          r[i] = ints ? std::floor(u / v) : u / v;  // int64 Div truncates; shape values are non-negative
        }
      }
      return make(op == "Equal" ? ElementType::int64 : (ints ? ElementType::int64 : ElementType::float64), shape, r);
    }
    if (op == "Where") {
      const Tensor& a = *in.at(1);
      const Tensor& b = *in.at(2);
      const Shape shape = broadcast_shape(n, broadcast_shape(n, x.shape, a.shape), b.shape);
      const auto mc = broadcast_map(x.shape, shape), ma = broadcast_map(a.shape, shape), mb = broadcast_map(b.shape, shape);
      const auto cv = as_doubles(x), av = as_doubles(a), bv = as_doubles(b);
      std::vector<double> r(static_cast<std::size_t>(element_count(shape)));
      for (std::size_t i = 0; i < r.size(); ++i)
        r[i] = cv[mc.empty() ? i : mc[i]] != 0 ? av[ma.empty() ? i : ma[i]] : bv[mb.empty() ? i : mb[i]];
      return make(a.type, shape, r);
    }
    if (op == "Range") {
      const double start = as_doubles(x).at(0), limit = as_doubles(*in.at(1)).at(0), delta = as_doubles(*in.at(2)).at(0);
      if (delta == 0) fail(n, "delta is 0");
      const auto count = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::ceil((limit - start) / delta)));
      if (count > kMaxElements) fail(n, "range too long");
      std::vector<double> r;
      for (std::int64_t i = 0; i < count; ++i) r.push_back(start + static_cast<double>(i) * delta);
      return make(x.type, {count}, r);
    }
    if (op == "ConstantOfShape") {
      const auto shape = x.i64;
      Tensor fill;
      fill.f64 = {0.0};
      if (const Attribute* a = find(n, "value")) fill = std::get<Tensor>(*a);
      const auto count = element_count(shape);
      if (count < 0 || count > kMaxElements) fail(n, "shape " + shape_string(shape) + " is too large");
      return make(fill.type, shape, std::vector<double>(static_cast<std::size_t>(count), as_doubles(fill).at(0)));
    }
    // Shape-changing ops share the runtime shape rules; the data moves by the same index maps.
    Shape shape;
    std::vector<std::int32_t> map;
    const Shape xs = x.shape;
    if (op == "Reshape" || op == "Unsqueeze" || op == "Squeeze" || op == "Flatten") {
      shape = reshape_like_shape(n, xs);
      if (element_count(shape) != x.element_count()) fail(n, "cannot reshape " + shape_string(xs) + " to " + shape_string(shape));
      Tensor t = x;
      t.shape = shape;
      return t;
    }
    if (op == "Gather") {
      gather_geometry(n, xs, shape, map);
      return gather_static(x, shape, map);
    }
    if (op == "Expand") {
      shape = broadcast_shape(n, xs, static_ints(n, input(n, 1)));
      return gather_static(x, shape, broadcast_map(xs, shape));
    }
    if (op == "Slice") {
      slice_geometry(n, xs, shape, map);
      return gather_static(x, shape, map);
    }
    if (op == "Transpose") {  // torch's F.pad export transposes its [2, rank] pads table
      transpose_geometry(n, xs, shape, map);
      return gather_static(x, shape, map);
    }
    if (op == "Concat") {
      const auto axis = normalize_axis(n, attr_int(n, "axis", 0), static_cast<std::int64_t>(xs.size()));
      Tensor out;
      out.type = x.type;
      out.shape = xs;
      out.shape[axis] = 0;
      std::vector<std::vector<double>> parts;
      std::vector<std::int64_t> inner;
      for (const Tensor* t : in) {
        if (!t || t->shape.size() != xs.size()) fail(n, "inputs of different ranks");
        out.shape[axis] += t->shape[axis];
        parts.push_back(as_doubles(*t));
        inner.push_back(element_count(Shape(t->shape.begin() + axis, t->shape.end())));
      }
      const std::int64_t outer = element_count(Shape(xs.begin(), xs.begin() + axis));
      std::vector<double> r;
      for (std::int64_t o = 0; o < outer; ++o)
        for (std::size_t k = 0; k < parts.size(); ++k)
          r.insert(r.end(), parts[k].begin() + o * inner[k], parts[k].begin() + (o + 1) * inner[k]);
      return make(out.type, out.shape, r);
    }
    fail(n, "cannot be evaluated on constants");
  }

  // Output shape of Reshape / Flatten / Squeeze / Unsqueeze for an input shape.
  Shape reshape_like_shape(const Node& n, const Shape& xs) const {
    const auto rank = static_cast<std::int64_t>(xs.size());
    if (n.op_type == "Flatten") {
      const auto axis = normalize_axis(n, attr_int(n, "axis", 1), rank, true);
      return {element_count(Shape(xs.begin(), xs.begin() + axis)), element_count(Shape(xs.begin() + axis, xs.end()))};
    }
    if (n.op_type == "Reshape") {
      const auto target = static_ints(n, input(n, 1));
      const bool allowzero = attr_int(n, "allowzero", 0) != 0;
      Shape shape;
      std::int64_t infer = -1, known = 1;
      for (std::size_t i = 0; i < target.size(); ++i) {
        std::int64_t e = target[i];
        if (e == 0 && !allowzero) {
          if (i >= xs.size()) fail(n, "shape entry 0 copies a missing input extent");
          e = xs[i];
        }
        if (e == -1) {
          if (infer >= 0) fail(n, "more than one -1 in the target shape");
          infer = static_cast<std::int64_t>(i);
        } else if (e < 0) {
          fail(n, "negative extent " + std::to_string(e) + " in the target shape");
        } else {
          known *= e;
        }
        shape.push_back(e);
      }
      if (infer >= 0) {
        if (known == 0 || element_count(xs) % known != 0)
          fail(n, "cannot infer the -1 extent reshaping " + shape_string(xs) + " to " + shape_string(target));
        shape[infer] = element_count(xs) / known;
      }
      return shape;
    }
    std::vector<std::int64_t> axes = has_input(n, 1) ? static_ints(n, input(n, 1)) : attr_ints(n, "axes", {});
    if (n.op_type == "Unsqueeze") {
      const auto out_rank = rank + static_cast<std::int64_t>(axes.size());
      for (auto& a : axes) a = normalize_axis(n, a, out_rank);
      std::sort(axes.begin(), axes.end());
      Shape shape;
      std::size_t k = 0;
      for (std::int64_t i = 0; i < out_rank; ++i) {
        if (std::binary_search(axes.begin(), axes.end(), i)) shape.push_back(1);
        else shape.push_back(xs.at(k++));
      }
      return shape;
    }
    // Squeeze
    for (auto& a : axes) a = normalize_axis(n, a, rank);
    Shape shape;
    for (std::int64_t i = 0; i < rank; ++i) {
      const bool listed = axes.empty() ? xs[i] == 1 : std::find(axes.begin(), axes.end(), i) != axes.end();
      if (listed && xs[i] != 1) fail(n, "cannot squeeze axis " + std::to_string(i) + " of extent " + std::to_string(xs[i]));
      if (!listed) shape.push_back(xs[i]);
    }
    return shape;
  }

  // Transpose by `perm` (default: reversed axes) as a source index map.
  void transpose_geometry(const Node& n, const Shape& xs, Shape& shape, std::vector<std::int32_t>& map) const {
    const auto rank = static_cast<std::int64_t>(xs.size());
    std::vector<std::int64_t> perm(rank);
    for (std::int64_t i = 0; i < rank; ++i) perm[i] = rank - 1 - i;
    perm = attr_ints(n, "perm", perm);
    if (static_cast<std::int64_t>(perm.size()) != rank) fail(n, "perm has the wrong length");
    std::vector<bool> seen(rank, false);
    for (auto& p : perm) {
      p = normalize_axis(n, p, rank);
      if (seen[p]) fail(n, "perm repeats an axis");
      seen[p] = true;
    }
    shape.assign(rank, 0);
    for (std::int64_t i = 0; i < rank; ++i) shape[i] = xs[perm[i]];
    const Shape st = strides_of(xs);
    const std::int64_t count = element_count(xs);
    map.clear();
    map.reserve(static_cast<std::size_t>(count));
    Shape idx(rank, 0);
    for (std::int64_t e = 0; e < count; ++e) {
      std::int64_t src = 0;
      for (std::int64_t d = 0; d < rank; ++d) src += idx[d] * st[perm[d]];
      map.push_back(static_cast<std::int32_t>(src));
      for (std::int64_t d = rank; d-- > 0;) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  }
  void gather_geometry(const Node& n, const Shape& xs, Shape& shape, std::vector<std::int32_t>& map) const {
    const auto rank = static_cast<std::int64_t>(xs.size());
    const auto axis = normalize_axis(n, attr_int(n, "axis", 0), rank);
    const Tensor& it = static_tensor(n, input(n, 1));
    const auto indices = static_ints(n, input(n, 1));
    shape.assign(xs.begin(), xs.begin() + axis);
    shape.insert(shape.end(), it.shape.begin(), it.shape.end());
    shape.insert(shape.end(), xs.begin() + axis + 1, xs.end());
    const std::int64_t outer = element_count(Shape(xs.begin(), xs.begin() + axis));
    const std::int64_t inner = element_count(Shape(xs.begin() + axis + 1, xs.end()));
    const std::int64_t extent = xs[axis];
    for (std::int64_t o = 0; o < outer; ++o)
      for (auto idx : indices) {
        if (idx < -extent || idx >= extent) fail(n, "index " + std::to_string(idx) + " outside an extent of " + std::to_string(extent));
        if (idx < 0) idx += extent;
        for (std::int64_t t = 0; t < inner; ++t) map.push_back(static_cast<std::int32_t>((o * extent + idx) * inner + t));
      }
  }

  void slice_geometry(const Node& n, const Shape& xs, Shape& shape, std::vector<std::int32_t>& map) const {
    const auto rank = static_cast<std::int64_t>(xs.size());
    std::vector<std::int64_t> starts, ends, axes, steps;
    if (has_input(n, 1)) {
      starts = static_ints(n, input(n, 1));
      ends = static_ints(n, input(n, 2));
      if (has_input(n, 3)) axes = static_ints(n, input(n, 3));
      if (has_input(n, 4)) steps = static_ints(n, input(n, 4));
    } else {
      starts = attr_ints(n, "starts", {});
      ends = attr_ints(n, "ends", {});
      axes = attr_ints(n, "axes", {});
    }
    if (axes.empty())
      for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<std::int64_t>(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
      fail(n, "starts, ends, axes and steps differ in length");
    Shape begin(rank, 0), step(rank, 1);
    shape = xs;
    for (std::size_t i = 0; i < starts.size(); ++i) {
      const auto a = normalize_axis(n, axes[i], rank);
      const std::int64_t d = xs[a], s = steps[i];
      if (s == 0) fail(n, "step 0");
      auto clampi = [&](std::int64_t v, bool is_start) {
        if (v < 0) v += d;
        if (s > 0) return std::clamp<std::int64_t>(v, 0, d);
        (void)is_start;
        return std::clamp<std::int64_t>(v, -1, d - 1);
      };
      std::int64_t b = starts[i] < -d ? (s > 0 ? 0 : -1) : clampi(starts[i], true);
      std::int64_t e = ends[i] < -d ? (s > 0 ? 0 : -1) : clampi(ends[i], false);
      if (starts[i] >= d) b = s > 0 ? d : d - 1;
      if (ends[i] >= d) e = s > 0 ? d : d - 1;
      const std::int64_t count = s > 0 ? std::max<std::int64_t>(0, (e - b + s - 1) / s) : std::max<std::int64_t>(0, (b - e - s - 1) / -s);
      begin[a] = b;
      step[a] = s;
      shape[a] = count;
    }
    const Shape st = strides_of(xs);
    const std::int64_t total = element_count(shape);
    Shape idx(rank, 0);
    for (std::int64_t e = 0; e < total; ++e) {
      std::int64_t src = 0;
      for (std::int64_t d = 0; d < rank; ++d) src += (begin[d] + idx[d] * step[d]) * st[d];
      map.push_back(static_cast<std::int32_t>(src));
      for (std::int64_t d = rank; d-- > 0;) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  }

  // --- nodes -------------------------------------------------------------------------------------
  void lower(const Node& n) {
    if (evaluate_static(n)) return;
    const std::string& op = n.op_type;
    const std::string& out = output(n);
    auto x = [&](std::size_t i) { return value_id(n, input(n, i)); };

    if (op == "Identity" || op == "Dropout" || op == "Cast") {
      if (op == "Cast") {
        const auto to = attr_int(n, "to", 1);
        if (to != 1 && to != 11) fail(n, "casts of float data to a non-float type are not supported");
      }
      const int v = x(0);
      copy(n, v, value(v).shape, out);
      return;
    }
    if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze") {
      const int v = x(0);
      copy(n, v, reshape_like_shape(n, value(v).shape), out);
      return;
    }
    if (op == "Transpose") {
      const int v = x(0);
      Shape shape;
      std::vector<std::int32_t> map;
      transpose_geometry(n, value(v).shape, shape, map);
      gather(n, v, shape, std::move(map), out);
      return;
    }
    if (op == "Pad") {
      lower_pad(n, out);
      return;
    }
    if (op == "Expand") {
      const int v = x(0);
      const Shape shape = broadcast_shape(n, value(v).shape, static_ints(n, input(n, 1)));
      auto map = broadcast_map(value(v).shape, shape);
      if (map.empty()) map = identity_map(value(v).numel);
      gather(n, v, shape, std::move(map), out);
      return;
    }
    if (op == "Slice" || op == "Gather") {
      const int v = x(0);
      Shape shape;
      std::vector<std::int32_t> map;
      if (op == "Slice") slice_geometry(n, value(v).shape, shape, map);
      else gather_geometry(n, value(v).shape, shape, map);
      gather(n, v, shape, std::move(map), out);
      return;
    }
    if (op == "Split") {
      const int v = x(0);
      const Shape xs = value(v).shape;
      const auto rank = static_cast<std::int64_t>(xs.size());
      const auto axis = normalize_axis(n, attr_int(n, "axis", 0), rank);
      std::vector<std::int64_t> sizes = has_input(n, 1) ? static_ints(n, input(n, 1)) : attr_ints(n, "split", {});
      const auto parts = static_cast<std::int64_t>(n.outputs.size());
      if (sizes.empty()) {
        if (xs[axis] % parts != 0) fail(n, "extent " + std::to_string(xs[axis]) + " does not split evenly");
        sizes.assign(parts, xs[axis] / parts);
      }
      if (static_cast<std::int64_t>(sizes.size()) != parts) fail(n, "split sizes and outputs differ in number");
      const std::int64_t outer = element_count(Shape(xs.begin(), xs.begin() + axis));
      const std::int64_t inner = element_count(Shape(xs.begin() + axis + 1, xs.end()));
      std::int64_t start = 0;
      for (std::int64_t p = 0; p < parts; ++p) {
        Shape shape = xs;
        shape[axis] = sizes[p];
        std::vector<std::int32_t> map;
        for (std::int64_t o = 0; o < outer; ++o)
          for (std::int64_t a = 0; a < sizes[p]; ++a)
            for (std::int64_t t = 0; t < inner; ++t)
              map.push_back(static_cast<std::int32_t>((o * xs[axis] + start + a) * inner + t));
        start += sizes[p];
        if (start > xs[axis]) fail(n, "split sizes exceed the extent");
        if (!n.outputs[p].empty()) gather(n, v, shape, std::move(map), n.outputs[p]);
      }
      return;
    }
    if (op == "Concat") {
      std::vector<int> ins;
      for (std::size_t i = 0; i < n.inputs.size(); ++i) ins.push_back(x(i));
      const Shape first = value(ins[0]).shape;
      const auto rank = static_cast<std::int64_t>(first.size());
      const auto axis = normalize_axis(n, attr_int(n, "axis", 0), rank);
      Shape shape = first;
      shape[axis] = 0;
      std::vector<std::int64_t> inner;
      for (const int i : ins) {
        const Shape& s = value(i).shape;
        if (static_cast<std::int64_t>(s.size()) != rank) fail(n, "inputs of different ranks");
        for (std::int64_t d = 0; d < rank; ++d)
          if (d != axis && s[d] != first[d]) fail(n, "inputs differ off the concatenation axis: " + shape_string(s) + " vs " + shape_string(first));
        shape[axis] += s[axis];
        inner.push_back(element_count(Shape(s.begin() + axis, s.end())));
      }
      const int id = computed(n, out, shape, any_active(ins));
      Step& s = add_step(n, StepKind::concat, ins, id);
      s.outer = element_count(Shape(first.begin(), first.begin() + axis));
      s.inner = inner;
      return;
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
      const BinaryOp b = op == "Add" ? BinaryOp::add : op == "Sub" ? BinaryOp::sub : op == "Mul" ? BinaryOp::mul : BinaryOp::div;
      binary(n, b, x(0), x(1), out);
      return;
    }
    if (op == "Pow") {
      const auto& e = static_tensor(n, input(n, 1));
      const auto ev = as_doubles(e);
      if (ev.size() != 1) fail(n, "only a scalar constant exponent is supported");
      unary(n, UnaryOp::pow, x(0), ev[0], out);
      return;
    }
    static const std::map<std::string, UnaryOp> kUnary = {
        {"Relu", UnaryOp::relu},   {"LeakyRelu", UnaryOp::leaky_relu}, {"Tanh", UnaryOp::tanh},
        {"Sigmoid", UnaryOp::sigmoid}, {"Softplus", UnaryOp::softplus}, {"Erf", UnaryOp::erf},
        {"Exp", UnaryOp::exp},     {"Log", UnaryOp::log},             {"Sqrt", UnaryOp::sqrt},
        {"Neg", UnaryOp::neg},     {"Reciprocal", UnaryOp::reciprocal}};
    if (const auto u = kUnary.find(op); u != kUnary.end()) {
      unary(n, u->second, x(0), op == "LeakyRelu" ? attr_float(n, "alpha", 0.01) : 0.0, out);
      return;
    }
    if (op == "Softmax" || op == "LogSoftmax") {
      const int v = x(0);
      const Shape xs = value(v).shape;
      const auto rank = static_cast<std::int64_t>(xs.size());
      const bool legacy = ir_.opset > 0 && ir_.opset < 13;  // before opset 13: coerced to 2-D at axis
      const auto axis = normalize_axis(n, attr_int(n, "axis", legacy ? 1 : -1), rank);
      const int id = computed(n, out, xs, value(v).active);
      Step& s = add_step(n, op == "Softmax" ? StepKind::softmax : StepKind::log_softmax, {v}, id);
      s.outer = element_count(Shape(xs.begin(), xs.begin() + axis));
      s.axis_length = legacy ? element_count(Shape(xs.begin() + axis, xs.end())) : xs[axis];
      s.inner_stride = legacy ? 1 : element_count(Shape(xs.begin() + axis + 1, xs.end()));
      if (s.axis_length == 0) fail(n, "softmax over an empty axis");
      return;
    }
    if (op == "ReduceMean" || op == "GlobalAveragePool") {
      const int v = x(0);
      const auto rank = static_cast<std::int64_t>(value(v).shape.size());
      std::vector<std::int64_t> axes;
      bool keepdims = true;
      if (op == "GlobalAveragePool") {
        if (rank < 3) fail(n, "input of rank < 3");
        for (std::int64_t a = 2; a < rank; ++a) axes.push_back(a);
      } else {
        axes = has_input(n, 1) ? static_ints(n, input(n, 1)) : attr_ints(n, "axes", {});
        keepdims = attr_int(n, "keepdims", 1) != 0;
        if (axes.empty()) {
          if (attr_int(n, "noop_with_empty_axes", 0) != 0) {
            copy(n, v, value(v).shape, out);
            return;
          }
          for (std::int64_t a = 0; a < rank; ++a) axes.push_back(a);
        }
        for (auto& a : axes) a = normalize_axis(n, a, rank);
        std::sort(axes.begin(), axes.end());
        if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) fail(n, "axes repeat");
      }
      reduce_mean(n, v, axes, keepdims, out);
      return;
    }
    if (op == "MatMul") {
      int a = x(0), b = x(1);
      const bool vector_a = value(a).shape.size() == 1, vector_b = value(b).shape.size() == 1;
      if (!vector_a && !vector_b) {
        matmul(n, a, b, false, false, 1.0, out);
        return;
      }
      // numpy's rule for a rank-1 operand (torch's `h @ v`, `v @ h`): a [K] is [1, K], b [K] is [K, 1], and
      // that extent is removed from the product again.
      if (vector_a) a = copy(n, a, {1, value(a).shape[0]}, out + "/row");
      if (vector_b) b = copy(n, b, {value(b).shape[0], 1}, out + "/column");
      const int product = matmul(n, a, b, false, false, 1.0, out + "/product");
      Shape shape = value(product).shape;
      if (vector_b) shape.pop_back();
      if (vector_a) shape.erase(shape.end() - (vector_b ? 1 : 2));
      copy(n, product, shape, out);
      return;
    }
    if (op == "Gemm") {
      const int a = x(0), b = x(1);
      if (value(a).shape.size() != 2 || value(b).shape.size() != 2) fail(n, "operands must be matrices");
      const double alpha = attr_float(n, "alpha", 1.0), beta = attr_float(n, "beta", 1.0);
      const bool ta = attr_int(n, "transA", 0) != 0, tb = attr_int(n, "transB", 0) != 0;
      if (!has_input(n, 2)) {
        matmul(n, a, b, ta, tb, alpha, out);
        return;
      }
      if (beta != 1.0) fail(n, "beta = " + std::to_string(beta) + " is not supported (only 1)");
      const int product = matmul(n, a, b, ta, tb, alpha, out + "/product");
      binary(n, BinaryOp::add, product, x(2), out);
      return;
    }
    if (op == "Conv") {
      lower_conv(n, out);
      return;
    }
    if (op == "BatchNormalization") {
      lower_batch_norm(n, out);
      return;
    }
    if (op == "LayerNormalization") {
      const int v = x(0);
      const Shape xs = value(v).shape;
      const auto rank = static_cast<std::int64_t>(xs.size());
      const auto axis = normalize_axis(n, attr_int(n, "axis", -1), rank);
      const int id = computed(n, out + "/normalized", xs, value(v).active);
      Step& s = add_step(n, StepKind::normalize, {v}, id);
      const std::int64_t D = element_count(Shape(xs.begin() + axis, xs.end()));
      s.norm.groups = element_count(Shape(xs.begin(), xs.begin() + axis));
      s.norm.outer = 1;
      s.norm.outer_stride = 0;
      s.norm.inner = D;
      s.norm.group_block = 1;
      s.norm.group_outer_stride = D;
      s.norm.epsilon = attr_float(n, "epsilon", 1e-5);
      s.workspace = c_->workspaces++;
      int y = binary(n, BinaryOp::mul, id, x(1), has_input(n, 2) ? out + "/scaled" : out);
      if (value(y).shape != xs) fail(n, "scale does not broadcast to the input's normalised extents");
      if (has_input(n, 2)) y = binary(n, BinaryOp::add, y, x(2), out);
      if (value(y).shape != xs) fail(n, "bias does not broadcast to the input's normalised extents");
      return;
    }
    if (op == "MaxPool" || op == "AveragePool") {
      lower_pool(n, out);
      return;
    }
    throw std::invalid_argument("unsupported op '" + op + "' (node '" + n.name + "')");
  }

  // Pad in constant mode (torch exports it before some pooling and convolution layers): a gather whose
  // padded entries read the constant. Negative pads crop.
  void lower_pad(const Node& n, const std::string& out) {
    const int v = value_id(n, input(n, 0));
    const Shape xs = value(v).shape;
    const auto rank = static_cast<std::int64_t>(xs.size());
    const std::string mode = attr_string(n, "mode", "constant");
    if (mode != "constant") fail(n, "mode '" + mode + "' is not supported (constant only)");
    std::vector<std::int64_t> pads;
    double fill = 0.0;
    if (has_input(n, 1)) {
      pads = static_ints(n, input(n, 1));
      if (has_input(n, 2)) {
        const auto c = as_doubles(static_tensor(n, input(n, 2)));
        if (c.size() != 1) fail(n, "constant_value is not a scalar");
        fill = c[0];
      }
      if (has_input(n, 3)) fail(n, "the axes input is not supported");
    } else {
      pads = attr_ints(n, "pads", {});
      fill = attr_float(n, "value", 0.0);
    }
    if (static_cast<std::int64_t>(pads.size()) != 2 * rank) fail(n, "pads has " + std::to_string(pads.size()) + " entries for rank " + std::to_string(rank));
    Shape shape(rank);
    for (std::int64_t d = 0; d < rank; ++d) {
      shape[d] = xs[d] + pads[d] + pads[d + rank];
      if (shape[d] < 0) fail(n, "pads crop axis " + std::to_string(d) + " below zero");
    }
    const Shape st = strides_of(xs);
    std::vector<std::int32_t> map;
    map.reserve(static_cast<std::size_t>(element_count(shape)));
    Shape idx(rank, 0);
    for (std::int64_t e = 0; e < element_count(shape); ++e) {
      std::int64_t src = 0;
      for (std::int64_t d = 0; d < rank && src >= 0; ++d) {
        const std::int64_t i = idx[d] - pads[d];
        src = (i < 0 || i >= xs[d]) ? -1 : src + i * st[d];
      }
      map.push_back(static_cast<std::int32_t>(src));
      for (std::int64_t d = rank; d-- > 0;) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
    const int id = computed(n, out, shape, value(v).active);
    Step& s = add_step(n, StepKind::gather, {v}, id);
    s.map_a = std::move(map);
    s.scalar = fill;
  }

  void lower_conv(const Node& n, const std::string& out) {
    const int xv = value_id(n, input(n, 0)), wv = value_id(n, input(n, 1));
    const Shape xs = value(xv).shape;
    const Shape ws = value(wv).shape;
    if (xs.size() != 4 || ws.size() != 4)
      fail(n, "only 2-D convolutions are supported (input " + shape_string(xs) + ", weight " + shape_string(ws) + ")");
    const std::string pad_mode = attr_string(n, "auto_pad", "NOTSET");
    if (pad_mode != "NOTSET") fail(n, "auto_pad '" + pad_mode + "' is not supported (explicit pads only)");
    ConvGeometry g;
    g.groups = attr_int(n, "group", 1);
    g.channels_in = xs[1];
    g.height = xs[2];
    g.width = xs[3];
    g.channels_out = ws[0];
    g.kernel_h = ws[2];
    g.kernel_w = ws[3];
    const auto kernel = attr_ints(n, "kernel_shape", {ws[2], ws[3]});
    if (kernel != std::vector<std::int64_t>{ws[2], ws[3]}) fail(n, "kernel_shape disagrees with the weight's shape");
    const auto strides = attr_ints(n, "strides", {1, 1}), dil = attr_ints(n, "dilations", {1, 1});
    const auto pads = attr_ints(n, "pads", {0, 0, 0, 0});
    if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4) fail(n, "strides, dilations or pads of the wrong length");
    g.stride_h = strides[0];
    g.stride_w = strides[1];
    g.dilation_h = dil[0];
    g.dilation_w = dil[1];
    g.pad_top = pads[0];
    g.pad_left = pads[1];
    if (g.groups < 1 || g.channels_in % g.groups != 0 || g.channels_out % g.groups != 0 || ws[1] * g.groups != g.channels_in)
      fail(n, "group " + std::to_string(g.groups) + " does not fit input " + shape_string(xs) + " and weight " + shape_string(ws));
    for (const auto v : {g.stride_h, g.stride_w, g.dilation_h, g.dilation_w})
      if (v < 1) fail(n, "non-positive stride or dilation");
    for (const auto p : pads)
      if (p < 0) fail(n, "negative padding");
    const std::int64_t span_h = g.dilation_h * (g.kernel_h - 1) + 1, span_w = g.dilation_w * (g.kernel_w - 1) + 1;
    const std::int64_t eh = g.height + pads[0] + pads[2] - span_h, ew = g.width + pads[1] + pads[3] - span_w;
    if (eh < 0 || ew < 0) fail(n, "the kernel is larger than the padded input " + shape_string(xs));
    g.out_h = eh / g.stride_h + 1;
    g.out_w = ew / g.stride_w + 1;
    const int id = computed(n, has_input(n, 2) ? out + "/conv" : out, {xs[0], g.channels_out, g.out_h, g.out_w},
                            value(xv).active || value(wv).active);
    Step& s = add_step(n, StepKind::conv, {xv, wv}, id);
    s.conv = g;
    if (has_input(n, 2)) {
      const int bias = value_id(n, input(n, 2));
      if (value(bias).numel != g.channels_out) fail(n, "bias has " + std::to_string(value(bias).numel) + " entries, not " + std::to_string(g.channels_out));
      binary(n, BinaryOp::add, id, channel_view(n, bias, 4, out + "/bias"), out);
    }
  }

  void lower_batch_norm(const Node& n, const std::string& out) {
    const int xv = value_id(n, input(n, 0));
    const Shape xs = value(xv).shape;
    if (xs.size() < 2) fail(n, "input of rank < 2");
    const std::int64_t C = xs[1];
    const int scale = value_id(n, input(n, 1)), bias = value_id(n, input(n, 2));
    const int mean = value_id(n, input(n, 3)), var = value_id(n, input(n, 4));
    for (const int v : {scale, bias, mean, var})
      if (value(v).numel != C) fail(n, "'" + value(v).name + "' has " + std::to_string(value(v).numel) + " entries, not " + std::to_string(C) + " channels");
    for (const int v : {mean, var})
      if (value(v).active) fail(n, "running statistics that depend on the parameters are not supported");
    const double eps = attr_float(n, "epsilon", 1e-5);
    BatchNormInfo info;
    info.node = n.name;
    info.torch_momentum = 1.0 - attr_float(n, "momentum", 0.9);
    for (std::size_t i = 0; i < ir_.buffers.size(); ++i) {
      if (ir_.buffers[i].name == input(n, 3)) info.running_mean = static_cast<int>(i);
      if (ir_.buffers[i].name == input(n, 4)) info.running_var = static_cast<int>(i);
    }
    const int bn_index = static_cast<int>(batch_norms_->size());
    batch_norms_->push_back(info);
    // One step: y = γ·(x − mean)·r + β per channel, with the batch's statistics (train) or the running
    // ones (eval); the affine part is folded in so the step keeps one activation, not three.
    const bool train = c_->mode == BatchNormMode::train;
    std::vector<int> ins = {xv, scale, bias};
    if (!train) {
      ins.push_back(mean);
      ins.push_back(var);
    }
    const int id = computed(n, out, xs, value(xv).active || value(scale).active || value(bias).active);
    Step& s = add_step(n, StepKind::normalize, ins, id);
    const std::int64_t S = element_count(Shape(xs.begin() + 2, xs.end()));
    s.norm.groups = C;
    s.norm.outer = xs[0];
    s.norm.outer_stride = C * S;
    s.norm.inner = S;
    s.norm.group_block = C;
    s.norm.group_outer_stride = 0;
    s.norm.epsilon = eps;
    s.norm.batch_norm = train ? bn_index : -1;
    s.workspace = c_->workspaces++;
    if (train && xs[0] * S < 2)
      fail(n, "train-mode batch norm needs more than one value per channel (input " + shape_string(xs) + ")");
  }

  void lower_pool(const Node& n, const std::string& out) {
    const int xv = value_id(n, input(n, 0));
    const Shape xs = value(xv).shape;
    if (xs.size() != 4) fail(n, "only 2-D pooling is supported (input " + shape_string(xs) + ")");
    const std::string pad_mode = attr_string(n, "auto_pad", "NOTSET");
    if (pad_mode != "NOTSET") fail(n, "auto_pad '" + pad_mode + "' is not supported (explicit pads only)");
    PoolGeometry g;
    g.planes = xs[0] * xs[1];
    g.height = xs[2];
    g.width = xs[3];
    const auto kernel = attr_ints(n, "kernel_shape", {});
    const auto strides = attr_ints(n, "strides", {1, 1}), dil = attr_ints(n, "dilations", {1, 1});
    const auto pads = attr_ints(n, "pads", {0, 0, 0, 0});
    if (kernel.size() != 2 || strides.size() != 2 || dil.size() != 2 || pads.size() != 4)
      fail(n, "kernel_shape, strides, dilations or pads of the wrong length");
    g.kernel_h = kernel[0];
    g.kernel_w = kernel[1];
    g.stride_h = strides[0];
    g.stride_w = strides[1];
    g.dilation_h = dil[0];
    g.dilation_w = dil[1];
    g.pad_top = pads[0];
    g.pad_left = pads[1];
    g.pad_bottom = pads[2];
    g.pad_right = pads[3];
    for (const auto v : {g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.dilation_h, g.dilation_w})
      if (v < 1) fail(n, "non-positive kernel, stride or dilation");
    for (const auto p : pads)
      if (p < 0) fail(n, "negative padding");
    if (n.op_type == "AveragePool" && (g.dilation_h != 1 || g.dilation_w != 1)) fail(n, "dilated average pooling is not supported");
    g.count_include_pad = attr_int(n, "count_include_pad", 0) != 0;
    const bool ceil_mode = attr_int(n, "ceil_mode", 0) != 0;
    auto extent = [&](std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t d, std::int64_t p0, std::int64_t p1) {
      const std::int64_t span = d * (k - 1) + 1, e = in + p0 + p1 - span;
      if (e < 0) fail(n, "the window is larger than the padded input " + shape_string(xs));
      std::int64_t o = (ceil_mode ? (e + s - 1) / s : e / s) + 1;
      // torch (and ONNX ≥ 19): with ceil_mode, a last window that starts inside the right padding is dropped
      if (ceil_mode && (o - 1) * s >= in + p0) --o;
      return o;
    };
    g.out_h = extent(g.height, g.kernel_h, g.stride_h, g.dilation_h, g.pad_top, g.pad_bottom);
    g.out_w = extent(g.width, g.kernel_w, g.stride_w, g.dilation_w, g.pad_left, g.pad_right);
    const int id = computed(n, out, {xs[0], xs[1], g.out_h, g.out_w}, value(xv).active);
    Step& s = add_step(n, n.op_type == "MaxPool" ? StepKind::max_pool : StepKind::average_pool, {xv}, id);
    s.pool = g;
    if (n.op_type == "MaxPool") s.workspace = c_->workspaces++;
  }

  const GraphIR& ir_;
  std::unique_ptr<Compiled> c_;
  std::vector<BatchNormInfo>* batch_norms_;
  std::map<std::string, int> ids_;
  std::map<std::string, const Tensor*> statics_;
  std::vector<std::unique_ptr<Tensor>> owned_statics_;

 public:
  // Owned static tensors must outlive the compiled plan when materialised as constants.
  std::vector<std::unique_ptr<Tensor>> take_statics() { return std::move(owned_statics_); }
};

// --- fusion of layout steps into matrix products ----------------------------------------------------
// Attention as torch exports it splits heads with Reshape + Transpose before its two products and merges
// them with Transpose + Reshape after: [B, T, h·d] → [B, h, T, d] and back. Each Transpose is a gather
// step (a full pass over the activation in every one of the four passes, and a scatter-add adjoint in
// the two reverse ones) and each Reshape a copy. But one head of one sample is a plain row-major matrix
// inside the untransposed activation — rows T apart by h·d, columns adjacent — so the products can read
// (and the merge can be written) in place with a leading dimension, and the gather and copy steps go.
// The product's arithmetic is unchanged (the same GEMM over the same numbers, only addressed with a
// stride), so the fused graph computes the same values; tests/graph and GraphTorch check it against
// the unfused graph and torch.

// One [R, C] batch item starting at `first` of a gather's output reads source base + r·row + q·col when
// its map is affine over the item (both strides positive, so no padding entries); false otherwise.
struct AffineItem {
  std::int64_t base = 0, row = 0, col = 0;
};
bool affine_item(const std::vector<std::int32_t>& map, std::int64_t first, std::int64_t R, std::int64_t C, AffineItem& out) {
  if (R < 2 || C < 2) return false;
  const std::int64_t base = map[first], row = map[first + C] - base, col = map[first + 1] - base;
  if (base < 0 || row <= 0 || col <= 0) return false;
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t q = 0; q < C; ++q)
      if (map[first + r * C + q] != base + r * row + q * col) return false;
  out = {base, row, col};
  return true;
}

// An operand of a matmul step (`which` 0 = A, 1 = B) read through the gather map instead: new offsets,
// leading dimension and transposition, or false when some batch item is not a strided matrix.
bool rewrite_operand(Step& s, int which, const std::vector<std::int32_t>& map, bool apply) {
  const bool trans = which == 0 ? s.trans_a : s.trans_b;
  // stored extents of the operand's item: A [M, K] / [K, M], B [K, N] / [N, K]
  const std::int64_t rows = which == 0 ? (trans ? s.K : s.M) : (trans ? s.N : s.K);
  const std::int64_t cols = which == 0 ? (trans ? s.M : s.K) : (trans ? s.K : s.N);
  if ((which == 0 ? s.lda : s.ldb) != cols) return false;  // already strided: not composed
  std::vector<std::int64_t> bases;
  std::int64_t ld = 0;
  bool flipped = false;
  for (std::size_t i = 0; i < s.batches.size(); ++i) {
    AffineItem a;
    if (!affine_item(map, s.batches[i][which], rows, cols, a)) return false;
    // columns adjacent: row-major with ld = row; rows adjacent: the transpose is row-major with ld = col
    const bool flip = a.col != 1;
    if (flip && a.row != 1) return false;
    const std::int64_t item_ld = flip ? a.col : a.row;
    if (item_ld < (flip ? rows : cols)) return false;  // overlapping rows: not a matrix
    if (i == 0) {
      flipped = flip;
      ld = item_ld;
    } else if (flip != flipped || item_ld != ld) {
      return false;
    }
    bases.push_back(a.base);
  }
  if (!apply) return true;
  for (std::size_t i = 0; i < s.batches.size(); ++i) s.batches[i][which] = bases[i];
  if (which == 0) {
    s.lda = ld;
    s.trans_a = trans != flipped;
  } else {
    s.ldb = ld;
    s.trans_b = trans != flipped;
  }
  return true;
}

// Who reads and writes each value while steps are being fused: `uses` counts the reads by steps not yet
// removed (the graph output counts as read once), `producer` the step writing it, `reader` the last
// step reading it (the only one when uses is 1).
struct Uses {
  std::vector<int> uses, producer, reader;
  std::vector<bool> removed;
  explicit Uses(const Compiled& c) : removed(c.steps.size(), false) { recount(c); }
  void recount(const Compiled& c) {
    uses.assign(c.values.size(), 0);
    producer.assign(c.values.size(), -1);
    reader.assign(c.values.size(), -1);
    for (std::size_t si = 0; si < c.steps.size(); ++si) {
      if (removed[si]) continue;
      for (const int v : c.steps[si].inputs) {
        ++uses[v];
        reader[v] = static_cast<int>(si);
      }
      producer[c.steps[si].output] = static_cast<int>(si);
    }
    ++uses[c.output];
  }
  // The one step reading v (−1 when v has another reader or is the graph output).
  int only_reader(int v) const { return uses[v] == 1 ? reader[v] : -1; }
};

// Erases the removed steps; values no step reads or writes any more get no buffers.
void drop_removed(Compiled& c, const std::vector<bool>& removed) {
  std::vector<Step> kept;
  kept.reserve(c.steps.size());
  for (std::size_t si = 0; si < c.steps.size(); ++si)
    if (!removed[si]) kept.push_back(std::move(c.steps[si]));
  c.steps = std::move(kept);
  std::vector<int> uses(c.values.size(), 0);
  std::vector<bool> produced(c.values.size(), false);
  for (const Step& s : c.steps) {
    for (const int v : s.inputs) ++uses[v];
    produced[s.output] = true;
  }
  ++uses[c.output];
  c.active_numel = 0;
  for (std::size_t v = 0; v < c.values.size(); ++v) {
    Value& value = c.values[v];
    if (value.kind == ValueKind::computed && !produced[v] && uses[v] == 0) {
      value.active = false;
      value.unused = true;
    }
    if (value.active) c.active_numel += value.numel;
  }
}

void fuse_layouts(Compiled& c) {
  Uses u(c);
  std::vector<int>& uses = u.uses;
  std::vector<int>& producer = u.producer;
  std::vector<bool>& removed = u.removed;
  std::vector<bool> fused(c.steps.size(), false);
  auto recount = [&] { u.recount(c); };
  auto reads_once = [](const Step& s, int which, int v) {  // a product reading v as one operand only
    return s.kind == StepKind::matmul && s.inputs[which] == v && s.inputs[1 - which] != v;
  };
  // 1. A gather of an activation whose every consumer is a product that can read it strided.
  for (std::size_t gi = 0; gi < c.steps.size(); ++gi) {
    const Step& g = c.steps[gi];
    if (g.kind != StepKind::gather) continue;
    const int x = g.inputs[0], y = g.output;
    // Parameters keep their Transposes: K-FAC recognises a layer by a product reading its weight
    // directly (kronecker.cpp), and a weight's transpose is tiny next to the activations.
    if (c.values[x].kind == ValueKind::parameter || c.values[x].kind == ValueKind::constant) continue;
    if (y == c.output || c.values[x].numel != c.values[y].numel) continue;
    std::vector<std::pair<std::size_t, int>> consumers;
    bool ok = true;
    for (std::size_t si = gi + 1; si < c.steps.size() && ok; ++si) {
      if (removed[si]) continue;
      const Step& s = c.steps[si];
      for (int which = 0; which < static_cast<int>(s.inputs.size()); ++which) {
        if (s.inputs[which] != y) continue;
        if (which > 1 || !reads_once(s, which, y)) ok = false;
        else consumers.emplace_back(si, which);
      }
    }
    if (!ok || consumers.empty()) continue;
    for (const auto& [si, which] : consumers)
      if (!rewrite_operand(c.steps[si], which, g.map_a, false)) ok = false;
    if (!ok) continue;
    for (const auto& [si, which] : consumers) {
      rewrite_operand(c.steps[si], which, g.map_a, true);
      c.steps[si].inputs[which] = x;
      fused[si] = true;
    }
    removed[gi] = true;
    recount();
  }
  // 2. A gather (a permutation) that only rearranges one product's output: the product writes there.
  for (std::size_t gi = 0; gi < c.steps.size(); ++gi) {
    const Step& g = c.steps[gi];
    if (removed[gi] || g.kind != StepKind::gather) continue;
    const int x = g.inputs[0], y = g.output;
    const int p = producer[x];
    if (p < 0 || c.steps[p].kind != StepKind::matmul || uses[x] != 1 || x == c.output) continue;
    const auto n = static_cast<std::size_t>(c.values[y].numel);
    if (c.values[x].numel != c.values[y].numel || g.map_a.size() != n) continue;
    std::vector<std::int32_t> inverse(n, -1);
    bool ok = true;
    for (std::size_t i = 0; i < n && ok; ++i) {
      const std::int32_t src = g.map_a[i];
      if (src < 0 || static_cast<std::size_t>(src) >= n || inverse[src] >= 0) ok = false;
      else inverse[src] = static_cast<std::int32_t>(i);
    }
    Step& s = c.steps[p];
    if (!ok || s.ldc != s.N) continue;
    std::vector<std::int64_t> bases;
    std::int64_t ldc = 0;
    for (const auto& b : s.batches) {
      AffineItem a;
      if (!affine_item(inverse, b[2], s.M, s.N, a) || a.col != 1 || a.row < s.N || (!bases.empty() && a.row != ldc)) {
        ok = false;
        break;
      }
      ldc = a.row;
      bases.push_back(a.base);
    }
    if (!ok) continue;
    for (std::size_t i = 0; i < bases.size(); ++i) s.batches[i][2] = bases[i];
    s.ldc = ldc;
    s.output = y;
    fused[p] = true;
    removed[gi] = true;
    recount();
  }
  // 3. Reshapes (copies) next to a fused product: the product reads the copy's input, or writes its output.
  for (std::size_t ci = 0; ci < c.steps.size(); ++ci) {
    const Step& cp = c.steps[ci];
    if (removed[ci] || cp.kind != StepKind::copy) continue;
    const int x = cp.inputs[0], y = cp.output;
    if (y == c.output) continue;
    const int p = producer[x];
    if (p >= 0 && fused[p] && c.steps[p].kind == StepKind::matmul && uses[x] == 1 && x != c.output) {
      c.steps[p].output = y;  // the same flat layout under the copy's shape
      removed[ci] = true;
      recount();
      continue;
    }
    bool ok = uses[y] > 0;
    for (std::size_t si = ci + 1; si < c.steps.size() && ok; ++si) {
      if (removed[si]) continue;
      for (const int v : c.steps[si].inputs)
        if (v == y && !(fused[si] && c.steps[si].kind == StepKind::matmul)) ok = false;
    }
    if (!ok) continue;
    for (std::size_t si = ci + 1; si < c.steps.size(); ++si)
      if (!removed[si])
        for (int& v : c.steps[si].inputs)
          if (v == y) v = x;
    removed[ci] = true;
    recount();
  }
  // 4. A product's output divided or multiplied by a constant scalar (attention's 1/√d): folded into α.
  for (std::size_t bi = 0; bi < c.steps.size(); ++bi) {
    const Step& b = c.steps[bi];
    if (removed[bi] || b.kind != StepKind::binary || (b.binary != BinaryOp::mul && b.binary != BinaryOp::div)) continue;
    for (int which = 0; which < 2; ++which) {
      const int x = b.inputs[which], k = b.inputs[1 - which];
      if (b.binary == BinaryOp::div && which == 1) continue;  // k / x is not linear in x
      const Value& kv = c.values[k];
      if (kv.kind != ValueKind::constant || kv.numel != 1 || c.values[x].numel != c.values[b.output].numel) continue;
      const int p = producer[x];
      if (p < 0 || c.steps[p].kind != StepKind::matmul || uses[x] != 1 || x == c.output) continue;
      Step& s = c.steps[p];
      s.scalar = b.binary == BinaryOp::mul ? s.scalar * kv.data[0] : s.scalar / kv.data[0];
      s.output = b.output;
      removed[bi] = true;
      recount();
      break;
    }
  }
  drop_removed(c, removed);
}

// --- fusion of elementwise patterns ------------------------------------------------------------------
// torch 1.13 exports exact GELU as Div(x, √2), Erf, Add 1, Mul x, Mul ½ and, below opset 17, LayerNorm
// as ReduceMean, Sub, Pow 2, ReduceMean, Add ε, Sqrt, Div (then Mul γ, Add β). Each elementwise step is
// a pass over the activation in each of the four passes and an activation-sized value with adjoint,
// tangents and R-adjoints; recognised here, GELU becomes one unary step (its two derivatives kept from
// the forward pass) and the LayerNorm decomposition the normalize step LayerNormalization lowers to.

// The value of a constant scalar, or false.
bool scalar_constant(const Compiled& c, int v, double& out) {
  const Value& value = c.values[v];
  if (value.kind != ValueKind::constant || value.numel != 1 || value.data == nullptr) return false;
  out = value.data[0];
  return true;
}
// A binary step `op` of v and a scalar constant equal to `constant` (on either side for + and ·).
bool binary_with_constant(const Compiled& c, const Step& s, BinaryOp op, int v, double constant) {
  if (s.kind != StepKind::binary || s.binary != op || s.inputs.size() != 2) return false;
  double k = 0.0;
  const bool commutes = op == BinaryOp::add || op == BinaryOp::mul;
  if (s.inputs[0] == v && scalar_constant(c, s.inputs[1], k)) return k == constant;
  if (commutes && s.inputs[1] == v && scalar_constant(c, s.inputs[0], k)) return k == constant;
  return false;
}
// A reduce_mean step over contiguous rows of D: input element i goes to row i / D. D, or 0.
std::int64_t row_mean_length(const Compiled& c, const Step& s) {
  if (s.kind != StepKind::reduce_mean) return 0;
  const std::int64_t in = c.values[s.inputs[0]].numel, out = c.values[s.output].numel;
  if (out < 1 || in % out != 0 || in / out < 2) return 0;
  const std::int64_t D = in / out;
  if (s.scalar != 1.0 / static_cast<double>(D) || static_cast<std::int64_t>(s.map_a.size()) != in) return 0;
  for (std::int64_t i = 0; i < in; ++i)
    if (s.map_a[i] != i / D) return 0;
  return D;
}
// Binary step reading `full` (same shape as the output, no map) and `row` broadcast over rows of D.
bool row_broadcast(const Compiled& c, const Step& s, BinaryOp op, int full, int row, std::int64_t D) {
  if (s.kind != StepKind::binary || s.binary != op || s.inputs[0] != full || s.inputs[1] != row || !s.map_a.empty()) return false;
  if (c.values[full].numel != c.values[s.output].numel || c.values[row].numel * D != c.values[full].numel) return false;
  for (std::size_t i = 0; i < s.map_b.size(); ++i)
    if (s.map_b[i] != static_cast<std::int64_t>(i) / D) return false;
  return s.map_b.size() == static_cast<std::size_t>(c.values[full].numel);
}

void fuse_patterns(Compiled& c) {
  Uses u(c);
  const double sqrt2 = std::sqrt(2.0);  // what torch exports for GELU's √2 (1.4142135623730951)
  for (std::size_t si = 0; si < c.steps.size(); ++si) {
    if (u.removed[si]) continue;
    Step& s = c.steps[si];
    // GELU, found from its Erf: t = h / √2, e = erf t, a = e + 1, p = h·a, y = p·½.
    if (s.kind == StepKind::unary && s.unary == UnaryOp::erf) {
      const int t = s.inputs[0], e = s.output;
      const int s1 = u.producer[t];
      if (s1 < 0 || u.only_reader(t) != static_cast<int>(si)) continue;
      const int h = c.steps[s1].inputs[0];
      if (!binary_with_constant(c, c.steps[s1], BinaryOp::div, h, sqrt2) || c.values[h].numel != c.values[e].numel) continue;
      const int s3 = u.only_reader(e);
      if (s3 < 0 || !binary_with_constant(c, c.steps[s3], BinaryOp::add, e, 1.0)) continue;
      const int a = c.steps[s3].output, s4 = u.only_reader(a);
      if (s4 < 0) continue;
      const Step& mul = c.steps[s4];
      if (mul.kind != StepKind::binary || mul.binary != BinaryOp::mul || !mul.map_a.empty() || !mul.map_b.empty() ||
          !((mul.inputs[0] == h && mul.inputs[1] == a) || (mul.inputs[0] == a && mul.inputs[1] == h)))
        continue;
      const int p = mul.output, s5 = u.only_reader(p);
      if (s5 < 0 || !binary_with_constant(c, c.steps[s5], BinaryOp::mul, p, 0.5)) continue;
      s.unary = UnaryOp::gelu;
      s.inputs = {h};
      s.output = c.steps[s5].output;
      for (const int r : {s1, s3, s4, s5}) u.removed[r] = true;
      u.recount(c);
      continue;
    }
    // LayerNorm, found from its first ReduceMean: mu = mean_row x, d = x − mu, v = mean_row d², 
    // sd = √(v + ε), y = d / sd.
    const std::int64_t D = row_mean_length(c, s);
    if (D == 0) continue;
    const int x = s.inputs[0], mu = s.output;
    const int s2 = u.only_reader(mu);
    if (s2 < 0 || !row_broadcast(c, c.steps[s2], BinaryOp::sub, x, mu, D)) continue;
    const int d = c.steps[s2].output;
    if (u.uses[d] != 2) continue;
    int s3 = -1, s7 = -1;
    for (std::size_t k = static_cast<std::size_t>(s2) + 1; k < c.steps.size(); ++k) {
      if (u.removed[k]) continue;
      const Step& r = c.steps[k];
      if (r.kind == StepKind::unary && r.unary == UnaryOp::pow && r.scalar == 2.0 && r.inputs[0] == d) s3 = static_cast<int>(k);
      else if (r.kind == StepKind::binary && r.binary == BinaryOp::div && r.inputs[0] == d) s7 = static_cast<int>(k);
    }
    if (s3 < 0 || s7 < 0) continue;
    const int s4 = u.only_reader(c.steps[s3].output);
    if (s4 < 0 || row_mean_length(c, c.steps[s4]) != D || c.steps[s4].inputs[0] != c.steps[s3].output) continue;
    const int var = c.steps[s4].output, s5 = u.only_reader(var);
    if (s5 < 0) continue;
    const Step& add = c.steps[s5];
    const int eps_value = add.inputs.size() == 2 ? add.inputs[add.inputs[0] == var ? 1 : 0] : -1;
    double epsilon = 0.0;
    if (eps_value < 0 || !scalar_constant(c, eps_value, epsilon) || !binary_with_constant(c, add, BinaryOp::add, var, epsilon) ||
        !(epsilon >= 0.0))
      continue;
    const int s6 = u.only_reader(add.output);
    if (s6 < 0 || c.steps[s6].kind != StepKind::unary || c.steps[s6].unary != UnaryOp::sqrt) continue;
    const int sd = c.steps[s6].output;
    if (u.only_reader(sd) != s7 || !row_broadcast(c, c.steps[s7], BinaryOp::div, d, sd, D)) continue;
    Step& norm = c.steps[s7];
    norm.kind = StepKind::normalize;
    norm.inputs = {x};
    norm.map_a.clear();
    norm.map_b.clear();
    norm.norm.groups = c.values[x].numel / D;
    norm.norm.outer = 1;
    norm.norm.outer_stride = 0;
    norm.norm.inner = D;
    norm.norm.group_block = 1;
    norm.norm.group_outer_stride = D;
    norm.norm.epsilon = epsilon;
    norm.norm.batch_norm = -1;
    norm.workspace = c.workspaces++;
    for (const int r : {static_cast<int>(si), s2, s3, s4, s5, s6}) u.removed[r] = true;
    u.recount(c);
  }
  drop_removed(c, u.removed);
}

// An activation read by one step whose adjoint that step's reverse passes produce element by element
// (or, for a product's A, item by item over disjoint blocks that cover it) needs no zeroing before the
// reverse passes: the step writes it. Zeroing and accumulating into zeros was a memset and a read per
// element of every such activation, in both reverse passes (6% of the transformer's HVP, docs/graph.md).
// 0 + a = a exactly, so the results are the same bits (but the sign of a zero adjoint).
void mark_overwrites(Compiled& c) {
  std::vector<int> uses(c.values.size(), 0);
  for (const Step& s : c.steps)
    for (const int v : s.inputs) ++uses[v];
  ++uses[c.output];
  for (Step& s : c.steps) {
    const int x = s.inputs[0];
    Value& v = c.values[x];
    if (v.kind != ValueKind::computed || !v.active || uses[x] != 1) continue;
    bool covers = false;
    switch (s.kind) {
      case StepKind::copy:
      case StepKind::unary:
      case StepKind::softmax:
      case StepKind::log_softmax: covers = c.values[s.output].numel == v.numel; break;
      case StepKind::matmul: {
        // every element of A in exactly one batch item's block
        std::vector<std::uint8_t> hit(static_cast<std::size_t>(v.numel), 0);
        const std::int64_t rows = s.trans_a ? s.K : s.M, cols = s.trans_a ? s.M : s.K;
        covers = true;
        for (const auto& item : s.batches)
          for (std::int64_t r = 0; r < rows && covers; ++r)
            for (std::int64_t q = 0; q < cols && covers; ++q) {
              const std::int64_t e = item[0] + r * s.lda + q;
              if (e < 0 || e >= v.numel || hit[e]++) covers = false;
            }
        for (const auto h : hit) covers = covers && h == 1;
        break;
      }
      default: break;
    }
    if (!covers) continue;
    s.overwrite = true;
    v.overwritten = true;
  }
}

// Which adjoints a Hessian product reads. The R-backward pass reads g = ∂f/∂y only in second-order
// terms, i.e. for y the output of a step that is not linear in its active inputs; computing such a g
// needs the adjoints of everything downstream of y. So a value's adjoint is needed when its producer has
// a second-order term or any input of its producer is needed (forward order). A parameter is never
// needed, nor is a value computed from parameters by linear steps only (a weight's Transpose): their
// adjoints are the gradient, which products do not use.
void mark_product_adjoints(Compiled& c) {
  for (const Step& s : c.steps) {
    auto active = [&](std::size_t k) { return k < s.inputs.size() && c.values[s.inputs[k]].active; };
    bool second = false;
    switch (s.kind) {
      case StepKind::binary:
        second = (s.binary == BinaryOp::mul && active(0) && active(1)) || (s.binary == BinaryOp::div && active(1));
        break;
      case StepKind::unary:
        second = s.unary != UnaryOp::relu && s.unary != UnaryOp::leaky_relu && s.unary != UnaryOp::neg;
        break;
      case StepKind::matmul:
      case StepKind::conv: second = active(0) && active(1); break;
      case StepKind::normalize:
      case StepKind::softmax:
      case StepKind::log_softmax: second = true; break;
      default: break;
    }
    bool needed = second;
    for (const int v : s.inputs) needed = needed || c.values[v].product_adjoint;
    c.values[s.output].product_adjoint = needed && c.values[s.output].active;
  }
}

}  // namespace

std::unique_ptr<Compiled> compile(const GraphIR& ir, std::int64_t batch, BatchNormMode mode,
                                  std::vector<BatchNormInfo>* batch_norms, bool fuse) {
  batch_norms->clear();
  Lowering lowering(ir, batch, mode, batch_norms);
  auto compiled = lowering.run();
  if (fuse) {
    fuse_layouts(*compiled);
    fuse_patterns(*compiled);
  }
  mark_overwrites(*compiled);
  mark_product_adjoints(*compiled);
  for (auto& t : lowering.take_statics()) {
    // Keep the statics alive: values may point into their data.
    compiled->constant_storage.push_back(std::make_unique<std::vector<double>>(std::move(t->f64)));
  }
  return compiled;
}

}  // namespace saddlescope::models::graph::detail

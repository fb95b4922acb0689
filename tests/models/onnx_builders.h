#pragma once
// Small ONNX models built with ONNX's own protobuf classes, for the importer and checkpoint tests.
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace saddlescope::testing {

inline void set_input(onnx::ValueInfoProto* v, const std::string& name, int elem_type, std::vector<std::int64_t> dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem_type);
  auto* shape = t->mutable_shape();
  for (auto d : dims) {
    auto* dim = shape->add_dim();
    if (d < 0) dim->set_dim_param("batch");
    else dim->set_dim_value(d);
  }
}

inline onnx::TensorProto* add_initializer(onnx::GraphProto* g, const std::string& name, std::vector<std::int64_t> dims,
                                   double fill) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::DOUBLE);
  std::int64_t count = 1;
  for (auto d : dims) {
    t->add_dims(d);
    count *= d;
  }
  for (std::int64_t i = 0; i < count; ++i) t->add_double_data(fill + 0.5 * static_cast<double>(i));
  return t;
}

// A node `name` of `op_type` reading `inputs` and writing `outputs`.
inline onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& name, const std::string& op_type,
                                 const std::vector<std::string>& inputs, const std::vector<std::string>& outputs) {
  auto* node = g->add_node();
  node->set_name(name);
  node->set_op_type(op_type);
  for (const auto& in : inputs) node->add_input(in);
  for (const auto& out : outputs) node->add_output(out);
  return node;
}

inline onnx::AttributeProto* add_attribute(onnx::NodeProto* node, const std::string& name, onnx::AttributeProto::AttributeType type) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(type);
  return a;
}

// x [batch, 3] -> Gemm(W [2, 3] transposed, b [2]) -> LeakyRelu(alpha 0.01f) -> y [batch, 2]
inline onnx::ModelProto small_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(14);
  auto* g = m.mutable_graph();
  g->set_name("small");
  set_input(g->add_input(), "input", onnx::TensorProto::DOUBLE, {-1, 3});
  set_input(g->add_output(), "output", onnx::TensorProto::DOUBLE, {-1, 2});
  add_initializer(g, "fc.weight", {2, 3}, 1.0);
  add_initializer(g, "fc.bias", {2}, -1.0);
  auto* gemm = add_node(g, "/fc/Gemm", "Gemm", {"input", "fc.weight", "fc.bias"}, {"z"});
  add_attribute(gemm, "transB", onnx::AttributeProto::INT)->set_i(1);
  auto* act = add_node(g, "/act/LeakyRelu", "LeakyRelu", {"z"}, {"output"});
  add_attribute(act, "alpha", onnx::AttributeProto::FLOAT)->set_f(0.01f);
  return m;
}

// small_model()'s first initializer (fc.weight [2, 3]) with its values removed, for the tests that
// give it a hostile body instead.
inline onnx::TensorProto* emptied_weight(onnx::ModelProto& m) {
  auto* t = m.mutable_graph()->mutable_initializer(0);
  t->clear_double_data();
  return t;
}

// small_model() whose fc.weight declares the shape [rows, cols] and holds no values: a size claim that
// must be refused before anything is allocated.
inline onnx::ModelProto small_model_declaring(std::int64_t rows, std::int64_t cols) {
  onnx::ModelProto m = small_model();
  auto* t = emptied_weight(m);
  t->clear_dims();
  t->add_dims(rows);
  t->add_dims(cols);
  return m;
}

}  // namespace saddlescope::testing

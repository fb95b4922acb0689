// The ONNX importer (models/graph/onnx_import.h) on models built here with ONNX's own protobuf classes:
// what a valid graph becomes, and that damaged or hostile content is refused with one line naming the
// problem before anything is allocated from it. The whole-model round trips through torch live in
// graph_torch_test.cpp.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <string>

#include "models/graph/onnx_import.h"
#include "models/onnx_builders.h"

namespace {

using namespace saddlescope::models::graph;
using saddlescope::testing::add_attribute;
using saddlescope::testing::add_node;
using saddlescope::testing::emptied_weight;
using saddlescope::testing::small_model;
using saddlescope::testing::small_model_declaring;

std::string bytes(const onnx::ModelProto& m) { return m.SerializeAsString(); }

// The message of the std::invalid_argument that importing `data` throws ("" when it does not throw).
std::string refusal(const std::string& data, const OnnxImportOptions& options = {{"fc.weight", "fc.bias"}, {}}) {
  try {
    (void)import_onnx(data, options);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(OnnxImport, SmallGraphBecomesTheIrWithParametersInTheNamedOrder) {
  const GraphIR ir = import_onnx(bytes(small_model()), {{"fc.bias", "fc.weight"}, {}});
  EXPECT_EQ(ir.opset, 14);
  EXPECT_EQ(ir.input.name, "input");
  EXPECT_EQ(ir.input.shape, (std::vector<std::int64_t>{-1, 3}));
  EXPECT_EQ(ir.output, "output");
  ASSERT_EQ(ir.parameters.size(), 2u);
  EXPECT_EQ(ir.parameters[0].name, "fc.bias");  // the order given, not the file's
  EXPECT_EQ(ir.parameters[1].name, "fc.weight");
  EXPECT_EQ(ir.parameters[1].value.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(ir.parameters[1].value.f64[5], 1.0 + 0.5 * 5);
  ASSERT_EQ(ir.nodes.size(), 2u);
  EXPECT_EQ(std::get<std::int64_t>(ir.nodes[0].attributes.at("transB")), 1);
  // 0.01f is 0.00999999977648258; the shortest decimal that round-trips the float32 restores the 0.01
  // the exporter wrote (onnx_import.h).
  EXPECT_EQ(std::get<double>(ir.nodes[1].attributes.at("alpha")), 0.01);
}

// Regression (found by GraphOpsTorch, #13): a train-mode module with Dropout(p=0) — what the exporter tells a
// user to set — exports Dropout's training_mode as a bool Constant, which the importer refused
// ("element type bool (9)"). Bool tensors now import as int64 0/1, from raw bytes or int32_data.
TEST(OnnxImport, BoolConstantOfDropoutTrainingModeWasRefused) {
  for (const bool raw : {true, false}) {
    onnx::ModelProto m = small_model();
    auto* g = m.mutable_graph();
    g->mutable_node(1)->set_output(0, "activation");
    auto* stored = add_attribute(add_node(g, "/dropout/training_mode", "Constant", {}, {"training_mode"}), "value",
                               onnx::AttributeProto::TENSOR)->mutable_t();
    stored->set_data_type(onnx::TensorProto::BOOL);
    if (raw) stored->set_raw_data(std::string(1, '\x01'));
    else stored->add_int32_data(1);
    add_attribute(add_node(g, "/dropout/ratio", "Constant", {}, {"ratio"}), "value_float", onnx::AttributeProto::FLOAT)
        ->set_f(0.0f);
    add_node(g, "/dropout/Dropout", "Dropout", {"activation", "ratio", "training_mode"}, {"output"});
    const GraphIR ir = import_onnx(bytes(m), {{"fc.weight", "fc.bias"}, {}});
    ASSERT_EQ(ir.nodes.size(), 5u) << raw;
    const Tensor& mode = std::get<Tensor>(ir.nodes[2].attributes.at("value"));
    EXPECT_EQ(mode.type, ElementType::int64) << raw;
    EXPECT_EQ(mode.i64, std::vector<std::int64_t>{1}) << raw;
  }
}

TEST(OnnxImport, WithoutNamesEveryFloatInitializerIsAParameterInFileOrder) {
  const GraphIR ir = import_onnx(bytes(small_model()), {});
  ASSERT_EQ(ir.parameters.size(), 2u);
  EXPECT_EQ(ir.parameters[0].name, "fc.weight");
  EXPECT_TRUE(ir.constants.empty());
}

TEST(OnnxImport, TruncatedOrNonOnnxBytesAreRefused) {
  const std::string whole = bytes(small_model());
  EXPECT_NE(refusal(whole.substr(0, whole.size() / 2)), "");
  EXPECT_NE(refusal("this is not a protobuf"), "");
  EXPECT_NE(refusal(""), "");
}

TEST(OnnxImport, UnsupportedOpIsRefusedNamingOpTypeAndNode) {
  onnx::ModelProto m = small_model();
  m.mutable_graph()->mutable_node(1)->set_op_type("Einsum");
  const std::string why = refusal(bytes(m));
  EXPECT_NE(why.find("'Einsum'"), std::string::npos) << why;
  EXPECT_NE(why.find("/act/LeakyRelu"), std::string::npos) << why;
}

TEST(OnnxImport, AbsurdDeclaredInitializerSizeIsRefusedBeforeAllocation) {
  const std::string why = refusal(bytes(small_model_declaring(std::int64_t{1} << 31, std::int64_t{1} << 31)));
  EXPECT_NE(why.find("declares more than"), std::string::npos) << why;
}

TEST(OnnxImport, RawDataOfTheWrongLengthIsRefused) {
  onnx::ModelProto m = small_model();
  emptied_weight(m)->set_raw_data(std::string(8 * 5, '\0'));  // 5 doubles for a [2, 3] tensor
  const std::string why = refusal(bytes(m));
  EXPECT_NE(why.find("raw_data"), std::string::npos) << why;
}

TEST(OnnxImport, ExternalDataIsRefusedWithoutTouchingTheDisk) {
  onnx::ModelProto m = small_model();
  auto* t = emptied_weight(m);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* entry = t->add_external_data();
  entry->set_key("location");
  entry->set_value("/etc/passwd");
  const std::string why = refusal(bytes(m));
  EXPECT_NE(why.find("external data"), std::string::npos) << why;
}

TEST(OnnxImport, ParameterNameNotInTheGraphIsRefused) {
  const std::string why = refusal(bytes(small_model()), {{"fc.weight", "fc.bias", "missing.weight"}, {}});
  EXPECT_NE(why.find("'missing.weight'"), std::string::npos) << why;
}

TEST(OnnxImport, NonFloat64InputIsRefused) {
  onnx::ModelProto m = small_model();
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  const std::string why = refusal(bytes(m));
  EXPECT_NE(why.find("float64"), std::string::npos) << why;
}

TEST(OnnxImport, AbsurdInferredIntermediateShapeIsRefused) {
  // Expand to a constant shape of 2^40 elements per sample: every tensor in the file is small, only
  // shape inference sees the size.
  onnx::ModelProto m = small_model();
  auto* g = m.mutable_graph();
  auto* shape = g->add_initializer();
  shape->set_name("huge_shape");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(3);
  for (std::int64_t v : {std::int64_t{1}, std::int64_t{1} << 20, std::int64_t{1} << 20}) shape->add_int64_data(v);
  auto* expand = g->add_node();
  expand->set_name("/expand");
  expand->set_op_type("Expand");
  expand->add_input("output");
  expand->add_input("huge_shape");
  expand->add_output("expanded");
  const std::string why = refusal(bytes(m));
  EXPECT_NE(why, "");
}

TEST(OnnxImport, GraphsThatBreakOnnxRulesAreRefusedByTheChecker) {
  onnx::ModelProto m = small_model();
  m.mutable_graph()->mutable_node(1)->set_input(0, "undefined_value");  // not produced by any node
  EXPECT_NE(refusal(bytes(m)), "");
}

}  // namespace

#pragma once
// run-optimizer's optimizer, hyper-parameter, escape-policy and gradient-noise flags, generated from
// the field tables (optim/fields.h): each field is a flag --<prefix><name> ('-' for '_') whose help is
// the field's meaning; boolean fields are bare flags (--nesterov; --nesterov=false and
// --nesterov=true also accepted, in --config files true/false). Values are kept as the text given
// and parsed strictly when the run starts, so only the flags given override torch's per-optimizer
// defaults, and a bad value is one usage error naming its flag.
#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "optim/escape.h"
#include "optim/fields.h"
#include "optim/optimizer.h"

namespace saddlescope::cli {

// The flags of one field table.
struct FieldFlags {
  std::string prefix;                         // "", "perturb-", "nc-"
  std::vector<optim::FieldInfo> fields;
  std::map<std::string, std::string> given;   // field name -> the text given (non-boolean fields)
  // Boolean fields: CLI11 writes the flag's text ("true" for a bare --flag, else the text after '=')
  // into flag_text; whether it was given is the option's count().
  std::map<std::string, std::string> flag_text;
  std::map<std::string, const CLI::Option*> flag_options;
  // "--<prefix><name>" of a field name.
  std::string flag(const std::string& name) const;
  // The given values as a JSON object keyed by field name; std::invalid_argument naming the flag
  // for a value that does not parse (optim::field_value_from_text).
  nlohmann::json to_json() const;
};
void add_field_flags(CLI::App& app, FieldFlags& flags, const std::string& help_suffix);

struct OptimizerFlags {
  std::string optimizer = "sgd";
  std::string escape = "none";
  std::string grad_noise;
  FieldFlags hyper{"", optim::field_infos(optim::optimizer_fields()), {}, {}, {}};
  FieldFlags perturb{"perturb-", optim::field_infos(optim::perturb_fields()), {}, {}, {}};
  FieldFlags negative_curvature{"nc-", optim::field_infos(optim::negative_curvature_fields()), {}, {}, {}};
};
// --optimizer, every hyper-parameter, --escape, --perturb-*, --nc-*, --grad-noise.
void add_optimizer_flags(CLI::App& app, OptimizerFlags& flags);
// The configurations the flags describe (std::invalid_argument naming the flag or field otherwise).
// Settings of an escape policy other than --escape's are refused.
optim::OptimizerConfig optimizer_config(const OptimizerFlags& flags);
optim::EscapeOptions escape_options(const OptimizerFlags& flags);
// --grad-noise ETA[,GAMMA] (Neelakantan et al. 2015): strict numbers, at most two.
optim::GradNoiseOptions grad_noise_options(const OptimizerFlags& flags);

}  // namespace saddlescope::cli

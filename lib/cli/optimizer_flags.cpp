#include "cli/optimizer_flags.h"

#include <algorithm>
#include <stdexcept>

#include "objective/spec_options.h"

namespace saddlescope::cli {

std::string FieldFlags::flag(const std::string& name) const {
  std::string f = "--" + prefix + name;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

nlohmann::json FieldFlags::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  std::map<std::string, std::string> all = given;
  for (const auto& [name, option] : flag_options)
    if (option->count() > 0) all[name] = flag_text.at(name);
  for (const auto& entry : all) {  // not a structured binding: clang 14 (the fuzz build) cannot capture one
    const std::string& name = entry.first;
    const std::string& text = entry.second;
    const auto info = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.name == name; });
    try {
      j[name] = optim::field_value_from_text(*info, text);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(flag(name) + ": " + e.what());
    }
  }
  return j;
}

void add_field_flags(CLI::App& app, FieldFlags& flags, const std::string& help_suffix) {
  for (const auto& field : flags.fields) {
    const std::string name = field.name;
    if (field.type == optim::FieldType::boolean) {
      // "{true}": a bare --flag gives "true"; --flag=TEXT gives TEXT, parsed strictly in to_json() so
      // that a bad value names its flag (CLI11's own flag conversion throws an unnamed error).
      flags.flag_options[name] =
          app.add_flag(flags.flag(name) + "{true}", flags.flag_text[name],
                       field.meaning + " (a bare flag; " + flags.flag(name) + "=false turns it off)" + help_suffix);
    } else {
      std::string help = field.meaning;
      if (field.type == optim::FieldType::choice) {
        std::string names;
        for (const auto& c : field.choices) names += (names.empty() ? "" : ", ") + c;
        help += " [" + names + "]";
      }
      app.add_option_function<std::string>(
          flags.flag(name), [&flags, name](const std::string& text) { flags.given[name] = text; }, help + help_suffix);
    }
  }
}

void add_optimizer_flags(CLI::App& app, OptimizerFlags& o) {
  app.add_option("--optimizer", o.optimizer, optim::kOptimizerNames.known())->capture_default_str();
  add_field_flags(app, o.hyper, " (torch's default for the optimizer when not given)");
  app.add_option("--escape", o.escape, "Saddle escape: " + optim::kEscapeNames.known())
      ->check(CLI::IsMember(optim::kEscapeNames.names()))
      ->capture_default_str();
  add_field_flags(app, o.perturb, " (--escape perturb; Jin et al. 2017, Alg. 2)");
  add_field_flags(app, o.negative_curvature, " (--escape negative_curvature)");
  app.add_option("--grad-noise", o.grad_noise, "Gradient noise ETA[,GAMMA]: sigma_t^2 = ETA/(1+t)^GAMMA (Neelakantan 2015)");
}

optim::OptimizerConfig optimizer_config(const OptimizerFlags& o) {
  nlohmann::json j = o.hyper.to_json();
  j["optimizer"] = o.optimizer;
  return optim::OptimizerConfig::from_json(j);
}

optim::EscapeOptions escape_options(const OptimizerFlags& o) {
  nlohmann::json j = {{"escape", o.escape}};
  for (const FieldFlags* flags : {&o.perturb, &o.negative_curvature}) {
    const bool active = (flags == &o.perturb && o.escape == "perturb") ||
                        (flags == &o.negative_curvature && o.escape == "negative_curvature");
    const nlohmann::json given = flags->to_json();
    if (!active && !given.empty())
      throw std::invalid_argument(flags->flag(given.begin().key()) + " is a setting of --escape " +
                                  (flags == &o.perturb ? "perturb" : "negative_curvature") + ", not of --escape " +
                                  o.escape);
    if (active) j.update(given);
  }
  return optim::EscapeOptions::from_json(j);
}

optim::GradNoiseOptions grad_noise_options(const OptimizerFlags& o) {
  optim::GradNoiseOptions noise;
  if (o.grad_noise.empty()) return noise;
  const auto comma = o.grad_noise.find(',');
  const auto eta = objective::parse_real(o.grad_noise.substr(0, comma));
  const auto gamma = comma == std::string::npos ? std::optional<double>(noise.gamma)
                                                : objective::parse_real(o.grad_noise.substr(comma + 1));
  if (!eta || !gamma)
    throw std::invalid_argument("--grad-noise: '" + o.grad_noise + "' must be ETA or ETA,GAMMA (finite numbers), e.g. 0.01,0.55");
  noise.eta = *eta;
  noise.gamma = *gamma;
  std::string why;
  if (!noise.IsValid(&why)) throw std::invalid_argument("--grad-noise: " + why);
  return noise;
}

}  // namespace saddlescope::cli

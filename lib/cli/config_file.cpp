#include "cli/config_file.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/file_flags.h"
#include "io/json_text.h"

namespace saddlescope::cli {
namespace {

class JsonOrTomlConfig : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::string text((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || text[first] != '{') {
      std::istringstream again(text);
      return CLI::ConfigTOML::from_config(again);
    }
    std::string why;
    const nlohmann::json j = io::parse_json_bounded(text, &why);
    if (j.is_discarded()) throw CLI::ConversionError("--config: " + why);
    if (!j.is_object()) throw CLI::ConversionError("--config: not a JSON object");
    std::vector<CLI::ConfigItem> items;
    for (const auto& [key, value] : j.items()) {
      CLI::ConfigItem item;
      item.name = key;
      std::replace(item.name.begin(), item.name.end(), '_', '-');
      auto text_of = [](const nlohmann::json& v) {
        if (v.is_string()) return v.get<std::string>();
        if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
        return v.dump();
      };
      if (value.is_array()) {
        std::string joined;
        for (const auto& v : value) joined += (joined.empty() ? "" : ",") + text_of(v);
        item.inputs = {joined};
      } else if (value.is_object()) {
        item.inputs = {value.dump()};
      } else {
        item.inputs = {text_of(value)};
      }
      items.push_back(std::move(item));
    }
    return items;
  }
};

}  // namespace

void add_config_file_option(CLI::App& app) {
  // A FIFO or device as --config would block CLI11's read for ever: refused when the flag is parsed,
  // before CLI11 opens the file (cli/file_flags.h, #17 item 10).
  app.set_config("--config", "", "JSON (or TOML) file with the same options, keys as the long flag names")
      ->check(regular_input_file())
      ->trigger_on_parse();
  app.config_formatter(std::make_shared<JsonOrTomlConfig>());
  app.allow_config_extras(CLI::config_extras_mode::error);
}

}  // namespace saddlescope::cli

// state and list.
#include <fmt/format.h>

#include <memory>

#include "cli/commands.hpp"

namespace veil::cli {

void add_state(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("state", "print the state of a container (JSON)");
  auto id = std::make_shared<std::string>();
  cmd->add_option("id", *id, "container id")->required();
  cmd->callback([&ctx, id] {
    ctx.action = [&ctx, id]() -> Result<int> {
      auto l = VEIL_TRY(runtime::inspect(ctx.globals, *id));
      print(l.state.public_json(l.status).dump(2) + "\n");
      return 0;
    };
  });
}

void add_list(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("list", "list containers");
  auto format = std::make_shared<std::string>("table");
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("-f,--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  cmd->add_flag("-q,--quiet", *quiet, "print only the ids");
  cmd->callback([&ctx, format, quiet] {
    ctx.action = [&ctx, format, quiet]() -> Result<int> {
      auto all = runtime::list(ctx.globals);
      if (*quiet) {
        std::string out;
        for (const auto& l : all) out += l.state.id + "\n";
        print(out);
        return 0;
      }
      if (*format == "json") {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& l : all) arr.push_back(l.state.public_json(l.status));
        print(arr.dump() + "\n");
        return 0;
      }
      std::string out = fmt::format("{:<20} {:<8} {:<10} {:<40} {:<31} {}\n", "ID", "PID", "STATUS",
                                    "BUNDLE", "CREATED", "OWNER");
      for (const auto& l : all) {
        bool stopped = l.status == runtime::Status::stopped;
        out += fmt::format("{:<20} {:<8} {:<10} {:<40} {:<31} {}\n", l.state.id,
                           stopped ? 0 : l.state.pid, runtime::status_name(l.status),
                           l.state.bundle, l.state.created, l.state.owner);
      }
      print(out);
      return 0;
    };
  });
}

}  // namespace veil::cli

// loss-slice: 1-D and 2-D slices of the loss around a point (random filter-normalised directions, Hessian
// eigenvectors, or the segment between two checkpoints), written to a resumable HDF5 file.
#include <filesystem>
#include <iostream>

#include "cli/app.h"
#include "cli/file_flags.h"
#include "cli/progress.h"
#include "curvature/blocks.h"
#include "explore/slice.h"
#include "io/error.h"
#include "io/hdf5.h"
#include "io/provenance.h"
#include "problem/problem.h"
#include "report/slice.h"

namespace sc = saddlescope;

namespace {

struct Options {
  sc::cli::ProblemOptions source;
  std::string to, to_at;
  std::string directions = "random";
  std::string grid;
  std::string range;
  std::string normalization = "auto";
  std::string method = "auto";
  std::string out;
  std::string blocks;
  std::string xignore;
  int dims = 1;
  bool keep_1d = false;
  bool curvature = false;
  bool resume = false;
  long max_points = -1;
  long chunk = 64;
  sc::cli::CommonOptions common;
};

void setup(CLI::App& app, Options& o) {
  // The centre of the slice (theta_A for interpolate): a checkpoint, or --problem SPEC --at x.
  sc::cli::add_problem_options(app, o.source, "himmelblau");
  app.add_option("--to", o.to, "Second checkpoint (theta_B) for --directions interpolate");
  app.add_option("--to-at", o.to_at, "Second point for --problem with --directions interpolate");
  app.add_option("--directions", o.directions,
                 "random (filter-normalised), top / bottom (Hessian eigenvectors of the largest / smallest "
                 "eigenvalues), extreme (bottom and top, 2-D), interpolate (theta_A to theta_B, plus a random "
                 "direction in 2-D)")
      ->check(CLI::IsMember(sc::explore::kSliceDirectionNames.names()))
      ->capture_default_str();
  app.add_option("--dims", o.dims, "1 or 2")->check(CLI::IsMember({1, 2}))->capture_default_str();
  app.add_option("--grid", o.grid, "Grid points n1 (1-D) or n1,n2 (2-D); default 21 per axis");
  app.add_option("--range", o.range,
                 "lo,hi (1-D) or lo1,hi1,lo2,hi2 (2-D); default -1,1 per axis (0,1 for alpha with interpolate)");
  app.add_option("--normalization", o.normalization,
                 "Random directions: filter (Li et al. 2018), none, or auto (filter for networks, none for test "
                 "functions)")
      ->check(CLI::IsMember({"auto", "filter", "none"}))
      ->capture_default_str();
  app.add_flag("--keep-1d", o.keep_1d,
               "Filter normalisation: normalise biases / 1-D blocks as one filter instead of zeroing them");
  app.add_option("--xignore", o.xignore,
                 "biasbn: zero the random directions on biases and normalisation parameters (every block of rank "
                 "<= 1), as Li et al.'s --xignore biasbn; the default unless --keep-1d")
      ->check(CLI::IsMember({"biasbn"}));
  app.add_option("--block", o.blocks,
                 "Directions zero outside these parameter blocks (names or globs, comma-separated); eigenvector "
                 "directions are those of the diagonal Hessian block");
  app.add_flag("--curvature", o.curvature, "Also lambda_min and lambda_max at every grid point");
  app.add_option("--method", o.method, "--curvature and eigenvector directions: dense, lanczos or auto")
      ->check(CLI::IsMember(sc::curvature::kMethodNames.names()))
      ->capture_default_str();
  app.add_option("--out", o.out, "Result file (HDF5), written in place and flushed every --chunk points");
  app.add_flag("--resume", o.resume,
               "Reopen --out and compute only the missing grid points (its settings must match this run's)");
  app.add_option("--max-points", o.max_points, "Compute at most this many new points in this run (-1: all)")
      ->check(CLI::Range(-1L, 1000000000L))
      ->capture_default_str();
  app.add_option("--chunk", o.chunk, "Points between flushes of the file")
      ->check(CLI::Range(1L, 1000000000L))
      ->capture_default_str();
  sc::cli::add_common_options(app, o.common);
}

std::vector<double> parse_list(const std::string& text, std::size_t count, const std::string& flag) {
  const sc::objective::Vector v = sc::problem::parse_point(text, static_cast<sc::objective::Index>(count), flag);
  return std::vector<double>(v.data(), v.data() + v.size());
}

// The slice settings from the flags, validated (std::invalid_argument names the flag or field).
sc::explore::SliceOptions slice_options(const Options& o) {
  sc::explore::SliceOptions s;
  s.directions = sc::explore::kSliceDirectionNames.parse(o.directions);
  s.dims = o.dims;
  const bool interpolate = s.directions == sc::explore::SliceDirections::interpolate;
  const bool problem = !o.source.problem.empty();
  if (interpolate && o.to.empty() && o.to_at.empty())
    throw std::invalid_argument("--directions interpolate needs --to CHECKPOINT (or --to-at x with --problem)");
  if (!interpolate && !(o.to.empty() && o.to_at.empty()))
    throw std::invalid_argument("--to / --to-at are only used with --directions interpolate");
  if (!o.to.empty() && problem) throw std::invalid_argument("--to needs a checkpoint; with --problem use --to-at");
  if (!o.to_at.empty() && !problem) throw std::invalid_argument("--to-at needs --problem; with a checkpoint use --to");
  if (!o.xignore.empty() && o.keep_1d)
    throw std::invalid_argument("--xignore biasbn zeroes the 1-D blocks that --keep-1d keeps: give one of them");
  if (!o.grid.empty()) {
    const auto g = parse_list(o.grid, static_cast<std::size_t>(o.dims), "--grid");
    for (double v : g)
      if (v < 1 || v != std::floor(v) || v > 1e8)
        throw std::invalid_argument("--grid: sizes must be integers in [1, 1e8], got '" + o.grid + "'");
    s.points1 = static_cast<long>(g[0]);
    if (o.dims == 2) s.points2 = static_cast<long>(g[1]);
  }
  if (!o.range.empty()) {
    const auto r = parse_list(o.range, 2 * static_cast<std::size_t>(o.dims), "--range");
    s.lo1 = r[0];
    s.hi1 = r[1];
    if (o.dims == 2) {
      s.lo2 = r[2];
      s.hi2 = r[3];
    }
  } else if (interpolate) {
    s.lo1 = 0.0;
    s.hi1 = 1.0;
  }
  s.zero_one_dimensional = !o.keep_1d;
  s.seed = o.common.seed;
  s.curvature = o.curvature;
  s.classify.method = sc::curvature::kMethodNames.parse(o.method);
  s.classify.lanczos.seed = o.common.seed;
  s.classify.density.seed = o.common.seed;
  s.classify.density.probes = 0;  // λ_min / λ_max only
  s.eigen.seed = o.common.seed;
  std::string why;
  if (!s.IsValid(&why)) throw std::invalid_argument(why);
  return s;
}

// θ_B for interpolation (--to-at, or --to's checkpoint, which must hold the same objective); records
// what identifies it (and the centre) in `settings`.
sc::objective::Vector end_point(const Options& o, const sc::problem::Problem& p, bool interpolate,
                                nlohmann::json& settings) {
  sc::objective::Vector other;
  if (!o.source.problem.empty()) {
    if (interpolate) other = sc::problem::parse_point(o.to_at, p.objective->dim(), "--to-at");
    settings["at"] = std::vector<double>(p.point.data(), p.point.data() + p.point.size());
    if (interpolate) settings["to_at"] = std::vector<double>(other.data(), other.data() + other.size());
    return other;
  }
  if (interpolate) {
    const sc::problem::Problem q = sc::problem::load_checkpoint_problem(o.to);
    if (q.objective->spec() != p.objective->spec())
      throw sc::io::FileError(o.to, "its objective differs from " + p.input_path + "'s: " + q.objective->spec().dump());
    other = q.point;
    settings["to_sha256"] = sc::io::sha256_file(o.to);
  }
  settings["input_sha256"] = sc::io::sha256_file(p.input_path);
  return other;
}

int run(const Options& o, int argc, char** argv) {
  sc::cli::check_file_flags({{"checkpoint", o.source.checkpoint}, {"--to", o.to}}, {{"--out", o.out}});
  if (!o.resume && !o.out.empty() && sc::report::holds_an_incomplete_slice(o.out))
    throw std::invalid_argument("--out '" + o.out + "' holds an incomplete loss slice: add --resume to continue it, "
                                "or remove the file to start over");
  if (o.resume && o.out.empty()) throw std::invalid_argument("--resume needs --out FILE");
  sc::cli::apply_threads(1);  // parallel over grid points; Eigen single-threaded inside each
  sc::explore::SliceOptions s = slice_options(o);
  const bool interpolate = s.directions == sc::explore::SliceDirections::interpolate;
  const sc::problem::Problem p = sc::cli::load_problem(o.source);
  nlohmann::json settings;
  const sc::objective::Vector other = end_point(o, p, interpolate, settings);
  const auto& blocks = p.objective->parameter_blocks();
  const bool network = blocks.size() > 1 || blocks.front().name != "x";
  s.normalization = o.normalization != "auto" ? sc::explore::kNormalizationNames.parse(o.normalization)
                    : network                 ? sc::explore::Normalization::filter
                                              : sc::explore::Normalization::none;
  if (!o.blocks.empty())
    s.blocks = sc::curvature::select_blocks(blocks, sc::curvature::split_block_patterns(o.blocks));
  settings.update(sc::report::slice_settings(*p.objective, s));

  sc::explore::SlicePlan plan;
  sc::explore::SliceValues values;
  sc::io::h5::Handle file;
  const bool resuming = o.resume && std::filesystem::exists(o.out);
  if (resuming) {
    // Rank 0 alone opens the partial file (the one writer) and hands the others the plan and which points
    // are done (docs/distributed.md); a file it refuses ends the job from rank 0.
    plan.interpolate = interpolate;
    if (sc::cli::writes_files()) {
      file = sc::report::open_slice_file(o.out, settings, p.objective->dim(), s, plan, values);
      sc::io::h5::write_attribute(file.get(), "resumed_command_line", sc::io::shell_join(argc, argv));
    }
    sc::explore::broadcast_slice(plan, values);
  } else {
    plan = sc::explore::make_slice_plan(*p.objective, p.point, interpolate ? &other : nullptr, s);
    values.resize(plan.size(), s.curvature);
    if (!o.out.empty() && sc::cli::writes_files()) {
      const auto provenance = sc::cli::provenance("loss-slice", argc, argv, {{"seed", o.common.seed}});
      file = sc::report::create_slice_file(o.out, provenance, p.input_path, settings, plan, s, values);
    }
  }
  sc::report::SliceRun slice{p.objective->description(), p.source, p.objective->dim(), settings, values.done_count()};
  auto flush = [&] {
    if (!file.valid()) return;
    try {
      sc::report::write_slice_values(file.get(), values, sc::report::slice_summary(slice, plan, values));
    } catch (const sc::io::h5::Hdf5Error& e) {
      throw sc::io::FileError(o.out, std::string("cannot be written: ") + e.what());
    }
  };
  sc::cli::ProgressLine progress("loss-slice", o.common.json);
  s.progress = progress.callback();
  slice.computed_now = sc::explore::evaluate_slice(p.factory, plan, s, o.common.threads, o.max_points, o.chunk, values, flush);
  progress.finish();
  flush();
  file.reset();
  if (o.common.json) {
    sc::cli::print_json(sc::report::to_json(slice, plan, values, s));
  } else {
    std::cout << sc::report::summary_text(slice, plan, values, s);
    if (!o.out.empty()) std::cout << "  result file           " << o.out << "\n";
  }
  return sc::cli::kSuccess;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Slice the loss around a point along random filter-normalised directions, Hessian eigenvectors, or "
               "between two checkpoints, on a 1-D or 2-D grid; resumable HDF5 output.",
               "loss-slice");
  Options options;
  setup(app, options);
  return sc::cli::run_tool(app, argc, argv, [&] { return run(options, argc, argv); });
}

// run-optimizer resumed from its own checkpoint continues the run where it stopped (optim/trainer.h,
// "Resuming"): N steps straight and k steps + a resume for N − k steps give the same bits, with
// mini-batches, learning-rate schedules and gradient noise, and the resumed run's log and periodic
// checkpoints number their steps from k.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "io/checkpoint.h"
#include "io/hdf5.h"
#include "support/process.h"
#include "support/tool_runs.h"

namespace sc = saddlescope;
namespace h5 = sc::io::h5;
using sc::testing::run_command;
using sc::testing::TempDir;

namespace {

// The per-step columns a comparison needs, read from a run log's /steps.
struct LogColumns {
  std::vector<std::int64_t> step;
  Eigen::VectorXd loss, batch_loss, lr;
};

LogColumns read_columns(const std::string& path) {
  h5::Handle file = h5::open_file(path);
  h5::Handle steps = h5::open_group(file.get(), "steps");
  return {h5::read_int_vector(steps.get(), "step", 1000), h5::read_vector(steps.get(), "loss", 1000),
          h5::read_vector(steps.get(), "batch_loss", 1000), h5::read_vector(steps.get(), "lr", 1000)};
}

}  // namespace

// Regression (resume restarted at step 0): the resumed run redrew the first epoch's mini-batches,
// restarted the schedule and the noise stream (noise σ_t also decays with the global t) and numbered its
// log from 0, so these runs did not continue. Equality of bits is the right check: an uninterrupted run
// and a resumed one now perform the same floating-point operations in the same order.
TEST(RunOptimizerResume, ResumeRestartedBatchesScheduleAndNoiseAtStepZero) {
  const TempDir dir;
  // The iris MLP (150 samples): batches of 16 give 9 a epoch, so k = 5 resumes inside the first epoch
  // and the resumed run crosses into the second.
  const std::string start = sc::testing::iris_mlp_checkpoint(dir.file("start.h5"), "[4,6,3]", "0", "--seed 3");
  const std::string tool = sc::testing::tool_path("run-optimizer");
  const int total = 14, k = 5;
  for (const std::string settings :
       {" --optimizer sgd --lr 0.1 --momentum 0.9 --batch-size 16 --grad-noise 0.01,0.55",
        " --optimizer adam --lr 0.01 --schedule cosine:T_max=7 --batch-size 16 --grad-noise 0.001",
        " --optimizer adam --lr 0.01 --schedule step:step_size=3,gamma=0.5 --batch-size 16"}) {
    SCOPED_TRACE(settings);
    const std::string common = settings + " --seed 7";
    const std::string straight = dir.file("straight.h5"), half = dir.file("half.h5"), resumed = dir.file("resumed.h5");
    const std::string straight_log = dir.file("straight_log.h5"), resumed_log = dir.file("resumed_log.h5");
    for (const auto& path : {straight_log, resumed_log}) std::filesystem::remove(path);
    const auto a = run_command(tool + " " + start + common + " --steps " + std::to_string(total) + " --out " + straight +
                               " --log " + straight_log);
    ASSERT_EQ(a.exit_code, 0) << a.err;
    const auto b = run_command(tool + " " + start + common + " --steps " + std::to_string(k) + " --out " + half);
    ASSERT_EQ(b.exit_code, 0) << b.err;
    const auto c = run_command(tool + " " + half + common + " --steps " + std::to_string(total - k) + " --out " +
                               resumed + " --log " + resumed_log + " --checkpoint-every 3");
    ASSERT_EQ(c.exit_code, 0) << c.err;

    const auto x = sc::io::read_checkpoint(straight), y = sc::io::read_checkpoint(resumed);
    EXPECT_EQ(x.params, y.params);
    ASSERT_TRUE(x.optimizer_state && y.optimizer_state);
    EXPECT_EQ(x.optimizer_state->buffers, y.optimizer_state->buffers);
    EXPECT_EQ(x.optimizer_state->step, y.optimizer_state->step);
    EXPECT_EQ(x.optimizer_state->run_step, std::optional<std::int64_t>(total));
    EXPECT_EQ(y.optimizer_state->run_step, std::optional<std::int64_t>(total));

    // The resumed log holds steps k … N − 1, row for row the straight run's.
    const LogColumns all = read_columns(straight_log), tail = read_columns(resumed_log);
    ASSERT_EQ(all.step.size(), static_cast<std::size_t>(total));
    ASSERT_EQ(tail.step.size(), static_cast<std::size_t>(total - k));
    for (int i = 0; i < total - k; ++i) {
      EXPECT_EQ(tail.step[i], k + i);
      EXPECT_EQ(tail.loss(i), all.loss(k + i)) << "step " << k + i;
      EXPECT_EQ(tail.batch_loss(i), all.batch_loss(k + i)) << "step " << k + i;
      EXPECT_EQ(tail.lr(i), all.lr(k + i)) << "step " << k + i;
    }
    // --checkpoint-every 3 counts the run's steps: after steps 6, 9 and 12, each recording its run step.
    for (int steps_done : {6, 9, 12}) {
      const std::string periodic = dir.file("resumed.step" + std::to_string(steps_done) + ".h5");
      ASSERT_TRUE(std::filesystem::exists(periodic)) << periodic;
      EXPECT_EQ(sc::io::read_checkpoint(periodic).optimizer_state->run_step, std::optional<std::int64_t>(steps_done));
    }
  }
}

#pragma once
#include <map>
#include <string>

#include "objective/objective.h"

namespace saddlescope::objective {

// State that a training step changes and evaluation reads: batch norm's running statistics (a graph
// model with batch norm in train mode; models/graph/engine.h). Query with dynamic_cast. The trainer
// (optim/trainer.h, TrainerOptions::training_state) calls advance() once per optimizer step with the
// step's point and mini-batch — torch's training forward pass, which updates the running statistics
// before the optimizer moves the parameters — and checkpoints store state() under /buffers.
class TrainingState {
 public:
  virtual ~TrainingState() = default;
  // False when training leaves the state alone (e.g. batch norm in eval mode, or none at all).
  virtual bool trains_state() const = 0;
  virtual void advance(const Vector& x, Batch batch) = 0;
  // Name → values, flattened row-major (the checkpoint's /buffers).
  virtual std::map<std::string, Vector> state() const = 0;
};

}  // namespace saddlescope::objective

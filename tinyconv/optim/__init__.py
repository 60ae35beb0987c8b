"""``tc.optim``: optimizers and learning-rate schedulers (PyTorch names, defaults and rules).

Every optimizer's docstring gives its update rule as maths, and its ``_update_parameter`` method
computes exactly those lines, one per formula::

    optimizer = tc.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = tc.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    for epoch in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        scheduler.step()
"""

from tinyconv.optim import lr_scheduler
from tinyconv.optim.adadelta import Adadelta
from tinyconv.optim.adagrad import Adagrad
from tinyconv.optim.adam import Adam, AdamW
from tinyconv.optim.optimizer import Optimizer
from tinyconv.optim.rmsprop import RMSprop
from tinyconv.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "RMSprop", "lr_scheduler"]

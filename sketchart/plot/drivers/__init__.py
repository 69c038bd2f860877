"""The plotter drivers, one module per kind (each defines its registry entry ``DEVICE``).

* :mod:`~sketchart.plot.drivers.base`: serial plumbing the drivers share;
* :mod:`~sketchart.plot.drivers.ebb`: the AxiDraw (EiBotBoard) driver, with its motion
  planner in :mod:`~sketchart.plot.drivers.ebb_planner`;
* :mod:`~sketchart.plot.drivers.grbl`: the GRBL driver (streams ``gwrite`` G-code).
"""

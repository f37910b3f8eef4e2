"""The network: operators K, right-hand sides f, weights in time θ(t), the ODE block and the
networks built around it."""

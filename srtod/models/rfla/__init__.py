"""RFLA (Xu et al., ECCV 2022): receptive-field priors, Gaussian distances, hierarchical assigner."""

"""Conventions of jaxrelu, stated once.  Everything else links here.

**Network.**  f(x) = c · Σ_{j<m} a_j σ(w_j·x + b_j) with c = 1 (``standard``),
1/√m (``ntk``) or 1/m (``mean_field``); σ a registered activation
(:mod:`jaxrelu.activations`: relu(z), erf(z/√2), z, or a user's).
First-layer entries and biases are N(0, s²/d) (s = ``model.init_scale``), so a
row has E‖w_j‖² = s² and the pre-activation w_j·x of a Gaussian input has
variance ‖w_j‖² = O(1).  Teachers have unit-norm (orthonormal) rows, or
N(0, 1/d) entries, output scale 1 and no bias.

**Loss.**  ℓ(x, y) = ½ (f(x) − y)² (``task.loss = "square"``; other losses are registered
entries of :mod:`jaxrelu.losses`: the classification losses ``logistic``, ``exponential``,
``hinge``, ``correlation`` take labels y ∈ {−1, +1}, as the tasks of
:mod:`jaxrelu.tasks.classification` give them), averaged over the batch; the population loss
is ε = ½ E_x[(f(x) − f*(x))²] with the *noiseless* teacher, which is the ε_g of
Saad & Solla (1995) and Goldt et al. (2019).  Mind the ½ when comparing with
papers that use the mean squared error (their loss = 2 × ours, so their lr
is ours / 2 for the same trajectory).

**Learning rate.**  θ ← θ − lr ∇_θ L_B with the same lr for both layers and no
hidden rescaling by width or parametrisation (per-layer rates only when asked:
``optimizer.second_layer_lr_ratio`` = r gives the second layer r · lr).

**Time.**  ``step`` counts SGD updates; the ODE literature's time is
t = step / d (online, one sample per step when B = 1).  Our W = w/√d in terms of
their O(1)-entry weights w, so their order parameters Q = w wᵀ/d, R = w w*ᵀ/d
equal our W Wᵀ, W W*ᵀ, and their learning rate is

    η = lr · d        (Saad & Solla 1995; Goldt et al. NeurIPS 2019, standard
                       parametrisation, unit-norm teacher rows),

with the η²-terms of their ODEs divided by the batch size B.

**Randomness.**  Trajectory k draws all its randomness from
fold_in(split(PRNGKey(run.seed))[0], k) (threefry); see :mod:`jaxrelu.engine`.
Seed k shares its initial directions and its samples across grid points
(common random numbers).  Normals are always drawn in float32 and cast, so a
``dtype = "float64"`` run follows the same random sequence as a float32 run.
"""


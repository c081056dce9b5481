"""Conventions of jaxrelu, stated once.  Everything else links here (in the docs: the Conventions page,
which renders this docstring).

**Network.**  f(x) = c · Σ_{j<m} a_j σ(w_j·x + b_j) with c = 1 (``standard``),
1/√m (``ntk``) or 1/m (``mean_field``); σ a registered activation
(``jaxrelu.activations``: relu(z), erf(z/√2), z, or a user's).
First-layer entries and biases are N(0, s²/d) (s = ``model.init_scale``), so a
row has E‖w_j‖² = s² and the pre-activation w_j·x of a Gaussian input has
variance ‖w_j‖² = O(1).  Teachers have unit-norm (orthonormal) rows, or
N(0, 1/d) entries, output scale 1 and no bias.

**Loss.**  ℓ(x, y) = ½ (f(x) − y)² (``task.loss = "square"``; other losses are registered
entries of ``jaxrelu.losses``: the classification losses ``logistic``, ``exponential``,
``hinge``, ``correlation`` take labels y ∈ {−1, +1}, as the tasks of
``jaxrelu.tasks.classification`` give them), averaged over the batch; the population loss
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

**Hermite polynomials.**  He_k are the probabilists' Hermite polynomials (He_0 = 1,
He_1 = z, He_2 = z² − 1, He_3 = z³ − 3z, He_{k+1} = z He_k − k He_{k−1}), orthogonal under
N(0, 1) with E[He_j(z) He_k(z)] = δ_jk k!.  The activations ``he1`` … ``he8`` are He_k
*unnormalised*, as in Ben Arous, Gheissari & Jagannath (2021) and Arnaboldi et al. (2024):
on a unit-norm teacher row (w*·x ~ N(0, 1)) the target He_k has variance k!; the
orthonormal h_k = He_k/√(k!) is ``hermite(0, …, 0, 1/√(k!))``, and ``hermite(c0, …, cn)``
is Σ_k c_k He_k (n ≤ 8).  A link g = Σ_k c_k He_k has *information exponent* min{k ≥ 1:
c_k ≠ 0}.  Gaussian kernels of Hermite series at any variances use
β(k, q) = E_{u~N(0,q)}[σ^{(k)}(u)] and κ(q1, q2, r) = Σ_k r^k β1(k, q1) β2(k, q2)/k!
(Price's theorem; ``jaxrelu.activations``).

**Randomness.**  Trajectory k draws all its randomness from
fold_in(split(PRNGKey(run.seed))[0], k) (threefry); see ``jaxrelu.engine``.
Seed k shares its initial directions and its samples across grid points
(common random numbers).  Normals are always drawn in float32 and cast, so a
``dtype = "float64"`` run follows the same random sequence as a float32 run.

**Symbols in figures.**  Where the convention above applies (online teacher–student,
standard parametrisation) figures plot against t = step / d and label the learning rate
by η = lr · d; the config key (``optimizer.lr``) is named beside the symbol in the legend or
the axis label.  Elsewhere they use the config keys and the SGD step.
"""

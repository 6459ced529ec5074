# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,nbgrader,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · The lower bound: slides 26-29, checked with numbers
#
# Slides 26-29 ("Warning of Math") explain *why* the VAE's loss is what it is. This notebook evaluates every line of that derivation numerically, first on a model where everything is exact, then on the digits VAE of notebook 05.
#
# **Learning goals.** After this notebook you can
# 1. derive $\log P(x) = L_b + \mathrm{KL}(q(z|x)\,\|\,P(z|x))$ and $L_b = -\mathrm{KL}(q(z|x)\,\|\,P(z)) + \mathbb{E}_q[\log P(x|z)]$, and check both to $10^{-6}$;
# 2. explain slide 28's picture: raising $L_b$ by changing $q$ closes the gap to $\log P(x)$ without changing $P(x)$;
# 3. say which objective the VAE of slide 19 minimises, and measure how loose it is with importance sampling.

# %%
# %matplotlib inline
import math

import numpy as np
import torch
from matplotlib.figure import Figure

from helpers.elbo import LinearGaussian
from helpers.gaussian import kl_normal as gaussian_kl  # KL between two Gaussians with full covariances
from helpers.train import seed_everything

gen = seed_everything(0)
torch.set_printoptions(precision=4)

# %% [markdown]
# ## 1. A model where everything is exact
#
# Slide 25's model is $z \sim P(z) = \mathcal N(0, I)$ and $x \mid z \sim P(x|z)$. Take the simplest such model, **linear-Gaussian** (probabilistic PCA): $P(x|z) = \mathcal N(Wz + b,\ s^2 I)$. Then the integral $P(x) = \int P(z) P(x|z)\,dz$ and the posterior $P(z|x)$ have closed forms:
#
# $$P(x) = \mathcal N(b,\ WW^\top + s^2 I), \qquad P(z|x) = \mathcal N\!\big(M^{-1}W^\top(x-b)/s^2,\ M^{-1}\big),\quad M = I + W^\top W / s^2 .$$
#
# With a 1-D code $z$ we can also compute every integral over $z$ by brute force on a fine grid, and compare. Everything is in float64.

# %%
W = torch.tensor([[1.5], [-0.8], [0.6]], dtype=torch.float64)  # D = 3, K = 1
b = torch.tensor([0.5, 0.0, -0.3], dtype=torch.float64)
model = LinearGaussian(W, b, s2=0.25)
x = torch.tensor([2.0, -1.2, 0.4], dtype=torch.float64)  # one observed data point

z_grid = torch.linspace(-20, 20, 400001, dtype=torch.float64)  # for brute-force integrals over z
dz = float(z_grid[1] - z_grid[0])
log_joint = model.log_joint(x, z_grid[:, None])  # log P(z) + log P(x|z) on the grid


def integrate(values: torch.Tensor) -> float:
    """Trapezoid rule over z_grid."""
    return float(torch.trapezoid(values, dx=dz))


log_px_exact = float(model.log_marginal(x))
log_px_grid = math.log(integrate(log_joint.exp()))
post_mean, post_cov = model.posterior(x)
print(f"log P(x) closed form   = {log_px_exact:.10f}")
print(f"log P(x) by integrating = {log_px_grid:.10f}")
print(f"P(z|x) = N({float(post_mean[0]):.4f}, {float(post_cov[0, 0]):.4f})")

# %% [markdown]
# ## 2. Step one: $\log P(x) = \int q(z|x) \log P(x)\, dz$
#
# The derivation starts with a trick that looks like it does nothing: $q(z|x)$ can be **any** distribution over $z$, and since $\int q(z|x)\,dz = 1$, multiplying the constant $\log P(x)$ by it and integrating changes nothing. Then, by Bayes' rule $P(x) = P(z,x)/P(z|x)$ at every $z$:
#
# $$\log P(x) = \int q(z|x) \log \frac{P(z,x)}{q(z|x)}\,dz + \int q(z|x) \log\frac{q(z|x)}{P(z|x)}\,dz = L_b + \mathrm{KL}\big(q(z|x)\,\|\,P(z|x)\big).$$
#
# The KL is never negative, so $L_b \le \log P(x)$: a **lower bound**. Check it for five arbitrary $q = \mathcal N(\mu, \sigma^2)$, with every integral done on the grid, and against the closed forms:

# %%
# NBVAL_CHECK_OUTPUT
def log_q(mu: float, var: float) -> torch.Tensor:
    return -0.5 * (math.log(2 * math.pi * var) + (z_grid - mu) ** 2 / var)


log_post = log_joint - log_px_exact  # log P(z|x) by Bayes' rule
print(f"{'q = N(mu, var)':>18} {'int q log P(x)':>15} {'L_b':>10} {'KL(q||P(z|x))':>14} {'|L_b + KL - log P(x)|':>20}")
worst = 0.0
for mu, var in [(0.0, 1.0), (2.0, 0.1), (-1.0, 3.0), (1.1, 0.05), (0.5, 0.5)]:
    q = log_q(mu, var).exp()
    step1 = integrate(q * log_px_exact)
    lb = integrate(q * (log_joint - log_q(mu, var)))
    kl = integrate(q * (log_q(mu, var) - log_post))
    exact = model.terms(x, torch.tensor([mu], dtype=torch.float64), torch.tensor([[var]], dtype=torch.float64))
    worst = max(worst, abs(lb + kl - log_px_exact), abs(lb - exact["lb"]), abs(kl - exact["kl_q_posterior"]))
    print(f"N({mu:5.2f}, {var:4.2f}){'':6} {step1:15.6f} {lb:10.6f} {kl:14.6f} {abs(lb + kl - log_px_exact):20.8f}")
assert worst < 1e-6, f"identity off by {worst:.2e}"
print(f"log P(x) = {log_px_exact:.6f}; identity and closed forms agree within 1e-6")

# %% [markdown]
# Takeaway: whatever $q$ we pick, $L_b$ plus the KL to the true posterior adds up to the same $\log P(x)$ (the differences are integration error, around $10^{-10}$). A bad $q$ just moves probability from the first term into the second.
#
# ## 3. Step two: $L_b = -\mathrm{KL}(q(z|x)\,\|\,P(z)) + \mathbb{E}_{q}[\log P(x|z)]$
#
# Split $P(z,x) = P(z)\,P(x|z)$ inside $L_b$:
#
# $$L_b = \int q \log\frac{P(z)}{q}\,dz + \int q \log P(x|z)\,dz .$$
#
# The first term pulls $q$ towards the prior $P(z)$ (the VAE's regulariser); the second asks codes drawn from $q$ to explain $x$ well (the reconstruction term). Check it on the grid and by Monte Carlo, the way a VAE estimates it, with samples $z \sim q$:

# %%
# NBVAL_CHECK_OUTPUT
mu, var = 0.9, 0.2
q = log_q(mu, var).exp()
log_prior = -0.5 * (math.log(2 * math.pi) + z_grid**2)
log_lik = log_joint - log_prior  # log P(x|z)
kl_prior_grid = integrate(q * (log_q(mu, var) - log_prior))
exp_ll_grid = integrate(q * log_lik)
lb_grid = integrate(q * (log_joint - log_q(mu, var)))
z = mu + math.sqrt(var) * torch.randn(100_000, 1, generator=gen, dtype=torch.float64)
exp_ll_mc = model.log_joint(x, z) + 0.5 * (math.log(2 * math.pi) + z[:, 0] ** 2)
exact = model.terms(x, torch.tensor([mu], dtype=torch.float64), torch.tensor([[var]], dtype=torch.float64))
print(f"-KL(q||P(z)) + E_q[log P(x|z)] = {-kl_prior_grid:.6f} + {exp_ll_grid:.6f} = {exp_ll_grid - kl_prior_grid:.6f}")
print(f"L_b directly                   = {lb_grid:.6f}")
print(f"closed forms                   = {-exact['kl_q_prior']:.6f} + {exact['expected_log_lik']:.6f}")
print(f"E_q[log P(x|z)] by Monte Carlo (100k samples) = {float(exp_ll_mc.mean()):.2f} "
      f"± {float(exp_ll_mc.std()) / math.sqrt(len(z)):.2f}")
assert abs(exp_ll_grid - kl_prior_grid - lb_grid) < 1e-6 and abs(lb_grid - exact["lb"]) < 1e-6

# %% [markdown]
# ## 4. Slide 28: maximising $L_b$ over $q$ closes the gap
#
# Training a VAE maximises $L_b$ over the decoder $P(x|z)$ **and** over $q(z|x)$. For a fixed decoder, $\log P(x)$ does not depend on $q$ at all, so raising $L_b$ by changing $q$ can only shrink $\mathrm{KL}(q\,\|\,P(z|x))$: $q$ moves towards the true posterior. Gradient ascent on $L_b$ over $(\mu, \log\sigma^2)$ of $q$, starting far away:

# %% tags=["readme"]
params = torch.tensor([-0.5, math.log(1.0)], dtype=torch.float64, requires_grad=True)  # mu, log var
opt = torch.optim.Adam([params], lr=0.1)
trace = []
for step in range(400):
    q_mean, q_cov = params[:1], params[1].exp().reshape(1, 1)
    lb = model.expected_log_likelihood(x, q_mean, q_cov) - gaussian_kl(
        q_mean, q_cov, torch.zeros(1, dtype=torch.float64), torch.eye(1, dtype=torch.float64))
    t = model.terms(x, q_mean.detach(), q_cov.detach())
    trace.append((t["lb"], t["kl_q_posterior"], float(params[0].detach()), float(params[1].detach().exp())))
    opt.zero_grad()
    (-lb).backward()
    opt.step()
lbs, kls, mus, vars_ = map(np.array, zip(*trace))

fig = Figure(figsize=(12, 3.6), layout="constrained")
ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.2, 1])
ax1.axhline(log_px_exact, color="k", label=r"$\log P(x)$ (fixed)")
ax1.plot(lbs, color="tab:blue", label=r"$L_b$")
ax1.fill_between(np.arange(len(lbs)), lbs, log_px_exact, color="tab:orange", alpha=0.35,
                 label=r"gap $=\mathrm{KL}(q\,\|\,P(z|x))$")
ax1.set(xlim=(0, 100), xlabel="gradient step on q (first 100 of 400)", ylabel="nats",
        title="Raising $L_b$ over q shrinks the KL, not log P(x)")
ax1.legend(loc="lower right")
zz = z_grid[::400].numpy()
ax2.plot(zz, log_post[::400].exp().numpy(), "k", lw=2.5, label="true posterior P(z|x)")
for i, c in zip([0, 10, 30, 399], ["tab:red", "tab:orange", "tab:green", "tab:blue"]):
    ax2.plot(zz, np.exp(-0.5 * (np.log(2 * np.pi * vars_[i]) + (zz - mus[i]) ** 2 / vars_[i])), color=c,
             ls="--", label=f"q after {i} steps (KL {kls[i]:.2f})")
ax2.set(xlim=(-5, 4), xlabel="z", title="q(z|x) moves onto P(z|x)")
ax2.legend(fontsize=8)
fig

# %%
# NBVAL_CHECK_OUTPUT
print(f"start: L_b = {lbs[0]:.3f}, KL = {kls[0]:.3f};  after {len(lbs)} steps: L_b = {lbs[-1]:.5f}, KL < 1e-4: {kls[-1] < 1e-4}")
print(f"log P(x) = {log_px_exact:.5f}")
assert kls[-1] < 1e-4 and lbs[-1] > lbs[0]

# %% [markdown]
# Takeaway: the bound is tight exactly when $q(z|x) = P(z|x)$. A VAE's encoder can only output Gaussians, so for a nonlinear decoder some gap always remains; the next section measures it.
#
# ## 5. The same on the digits VAE of notebook 05
#
# For a real VAE neither $P(x)$ nor $P(z|x)$ has a closed form, but **importance sampling** with $q$ as the proposal estimates $\log P(x)$ from below, more tightly as the number of samples $k$ grows (Burda et al., 2016):
#
# $$\log P(x) \;\ge\; \mathbb{E}\Big[\log \frac1k \sum_{j=1}^k \frac{P(x|z_j)P(z_j)}{q(z_j|x)}\Big] \;\ge\; L_b, \qquad z_j \sim q(z|x).$$
#
# $k = 1$ is $L_b$ itself. The shipped VAE is loaded (trained by `make checkpoints`); averages are over the 447 test digits, in nats per image.

# %%
from helpers.data import load_digits  # noqa: E402
from helpers.registry import get  # noqa: E402
from helpers.vae import iwae_log_likelihood  # noqa: E402

digits = load_digits()
dig_train, dig_valid, dig_test = digits.split()
vae, vae_info = get("digits_vae")  # 8-D code, MLP decoder
ks = [1, 10, 100, 1000]
bounds = {k: float(iwae_log_likelihood(vae, dig_test, k, torch.Generator().manual_seed(1)).mean()) for k in ks}

# %%
# NBVAL_CHECK_OUTPUT
for k in ks:
    print(f"k = {k:4d}: bound on log P(x) = {bounds[k]:8.2f} nats per image")
gap = bounds[1000] - bounds[1]
print(f"estimated gap log P(x) - L_b >= {gap:.1f} nats: the KL(q(z|x) || P(z|x)) the encoder leaves")
assert all(bounds[a] <= bounds[b] + 0.05 for a, b in zip(ks, ks[1:])), "the bound should tighten with k"

# %%
fig = Figure(figsize=(5, 3.2), layout="constrained")
ax = fig.add_subplot()
ax.plot(ks, [-bounds[k] for k in ks], "o-")
ax.set(xscale="log", xlabel="importance samples k", ylabel="−bound (nats per image, lower is better)",
       title="The bound tightens as k grows (test digits)")
for k in ks:
    ax.annotate(f"{-bounds[k]:.1f}", (k, -bounds[k]), textcoords="offset points", xytext=(4, 6))
ax.margins(x=0.1, y=0.2)
fig

# %% [markdown]
# ## 6. Back to slide 19
#
# Slide 19 minimises the reconstruction error plus $\sum_i \big(\exp(\sigma_i) - (1 + \sigma_i) + m_i^2\big)$. With the conventions of `helpers.autoencoders`:
#
# - $q(z|x) = \mathcal N(m, \operatorname{diag} e^{\sigma})$: the encoder's $\sigma$ is the **log-variance** (notebook 05 checks that this is the reading under which the slide's term is a KL);
# - the slide's term is $2\,\mathrm{KL}(q(z|x)\,\|\,\mathcal N(0, I))$, so half of it is the $-\mathrm{KL}(q\,\|\,P(z))$ part of $L_b$;
# - the reconstruction error is $-\log P(x|z)$ for one $z \sim q$ with a **categorical** decoder (17 grey levels per pixel): a one-sample estimate of $-\mathbb{E}_q[\log P(x|z)]$.
#
# So the VAE's loss is exactly $-L_b$ (with the KL weight ½ on the slide's term). Check on a batch, with one shared noise draw:

# %%
# NBVAL_CHECK_OUTPUT
from helpers.gaussian import slide_kl_term  # noqa: E402
from helpers.vae import elbo  # noqa: E402

xb = dig_test[:64]
with torch.no_grad():
    m, log_var = vae.encode(xb)
    z = m + (0.5 * log_var).exp() * torch.randn(m.shape, generator=torch.Generator().manual_seed(2))
    slide_loss = vae.rec(z, xb) + 0.5 * slide_kl_term(m, log_var)  # rec = -log P(x|z), categorical
    lb = elbo(vae, xb, torch.Generator().manual_seed(2))
print(f"slide 19 loss (rec + ½ slide term), mean over 64 test digits = {float(slide_loss.mean()):.4f}")
print(f"-L_b from helpers.vae.elbo                                  = {float(-lb.mean()):.4f}")
assert torch.allclose(slide_loss, -lb, atol=1e-4)

# %% [markdown]
# ## Summary
#
# - $\log P(x) = L_b + \mathrm{KL}(q(z|x)\,\|\,P(z|x))$ for **every** $q$: checked to $10^{-6}$ on an exact model.
# - $L_b = -\mathrm{KL}(q\,\|\,P(z)) + \mathbb{E}_q[\log P(x|z)]$: a regulariser towards the prior plus a reconstruction term, the two halves of the VAE loss.
# - Maximising $L_b$ over $q$ shrinks the gap (slide 28); maximising it over the decoder raises $\log P(x)$. The VAE does both at once.
# - On real data the gap is measured with importance sampling: for the digits VAE the bound with $k = 1000$ samples sits a few nats above $L_b$.
#
# ## Exercises
#
# **Exercise 1.** For the linear-Gaussian `model` and data point `x` above, compute $L_b$ for $q = P(z) = \mathcal N(0, 1)$, i.e. an encoder that ignores $x$, using `model.expected_log_likelihood` and `gaussian_kl`. Store it (a float) in `lb_prior`.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
zero, one = torch.zeros(1, dtype=torch.float64), torch.eye(1, dtype=torch.float64)
lb_prior = float(model.expected_log_likelihood(x, zero, one) - gaussian_kl(zero, one, zero, one))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(lb_prior) is float, f"lb_prior should be a float, got {type(lb_prior).__name__}"
_ref = model.terms(x, torch.zeros(1, dtype=torch.float64), torch.eye(1, dtype=torch.float64))["lb"]
assert abs(lb_prior - _ref) < 1e-8, (
    f"lb_prior = {lb_prior:.4f}, expected {_ref:.4f}: L_b = E_q[log P(x|z)] - KL(q || P(z)); "
    "with q = P(z) the KL term is 0")
assert lb_prior < log_px_exact, "a lower bound must be below log P(x)"
print(f"Exercise 1 correct: L_b = {lb_prior:.3f} < log P(x) = {log_px_exact:.3f}")

# %% [markdown]
# **Exercise 2.** The gap $\log P(x) - L_b$ for that same $q = P(z)$ is a KL divergence between two Gaussians over $z$. Compute it **directly** with `gaussian_kl` and the exact posterior `model.posterior(x)` (not as a difference of the numbers above). Store it in `gap_prior`; it should equal `log_px_exact - lb_prior`.

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
pm, pc = model.posterior(x)
gap_prior = float(gaussian_kl(torch.zeros(1, dtype=torch.float64), torch.eye(1, dtype=torch.float64), pm, pc))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(gap_prior) is float, f"gap_prior should be a float, got {type(gap_prior).__name__}"
_want = model.terms(x, torch.zeros(1, dtype=torch.float64), torch.eye(1, dtype=torch.float64))["kl_q_posterior"]
assert abs(gap_prior - _want) < 1e-8, (
    f"gap_prior = {gap_prior:.4f}, expected {_want:.4f}: the gap is KL(q || P(z|x)) with q = N(0, 1) "
    "first and the posterior second (KL is not symmetric)")
print(f"Exercise 2 correct: gap = {gap_prior:.3f} nats")

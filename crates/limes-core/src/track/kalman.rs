//! Motion models and the Kalman predict/update steps (the Stone Soup predictor and updater).

use nalgebra::{Matrix2, Matrix2x4, Matrix4, Vector2, Vector4};

/// State `[x, y, vx, vy]` in metres and m/s of the tile's frame.
pub type State = Vector4<f64>;
/// State covariance.
pub type Cov = Matrix4<f64>;

/// Predicts a state forward in time.
pub trait MotionModel: Send + Sync {
    /// Predicted state and covariance after `dt` seconds with process noise intensity `q`
    /// (m²/s³).
    fn predict(&self, x: &State, p: &Cov, dt: f64, q: f64) -> (State, Cov);
}

/// Nearly-constant velocity: white-noise acceleration of spectral density `q` on each axis.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConstantVelocity;

impl MotionModel for ConstantVelocity {
    fn predict(&self, x: &State, p: &Cov, dt: f64, q: f64) -> (State, Cov) {
        let mut f = Matrix4::identity();
        f[(0, 2)] = dt;
        f[(1, 3)] = dt;
        let (q3, q2, q1) = (q * dt.powi(3) / 3.0, q * dt * dt / 2.0, q * dt);
        let mut qm = Matrix4::zeros();
        for k in 0..2 {
            qm[(k, k)] = q3;
            qm[(k, k + 2)] = q2;
            qm[(k + 2, k)] = q2;
            qm[(k + 2, k + 2)] = q1;
        }
        (f * x, f * p * f.transpose() + qm)
    }
}

/// Position measurement matrix.
fn h() -> Matrix2x4<f64> {
    Matrix2x4::new(1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
}

/// The innovation of a position measurement against a predicted state.
#[derive(Clone, Copy, Debug)]
pub struct Innovation {
    /// Measurement minus predicted position.
    pub y: Vector2<f64>,
    /// Innovation covariance.
    pub s: Matrix2<f64>,
    /// Squared Mahalanobis distance `yᵀ S⁻¹ y`.
    pub d2: f64,
    /// `ln det S`, for likelihood-based association costs.
    pub ln_det_s: f64,
}

/// Computes the innovation of measurement `z` (covariance `r`) against `(x, p)`.
///
/// Returns `None` when the innovation covariance is not positive definite.
pub fn innovation(x: &State, p: &Cov, z: &Vector2<f64>, r: &Matrix2<f64>) -> Option<Innovation> {
    let s = Matrix2::new(p[(0, 0)], p[(0, 1)], p[(1, 0)], p[(1, 1)]) + r;
    let det = s[(0, 0)] * s[(1, 1)] - s[(0, 1)] * s[(1, 0)];
    if det.is_nan() || det <= 0.0 || det.is_infinite() {
        return None;
    }
    let y = z - Vector2::new(x[0], x[1]);
    let d2 =
        (s[(1, 1)] * y[0] * y[0] - 2.0 * s[(0, 1)] * y[0] * y[1] + s[(0, 0)] * y[1] * y[1]) / det;
    Some(Innovation {
        y,
        s,
        d2,
        ln_det_s: det.ln(),
    })
}

/// Kalman update of `(x, p)` with a position measurement, in Joseph form for stability.
pub fn update(x: &State, p: &Cov, inn: &Innovation, r: &Matrix2<f64>) -> (State, Cov) {
    let h = h();
    let s_inv = inn.s.try_inverse().unwrap_or_else(Matrix2::zeros);
    let k = p * h.transpose() * s_inv;
    let x1 = x + k * inn.y;
    let i_kh = Matrix4::identity() - k * h;
    let p1 = i_kh * p * i_kh.transpose() + k * r * k.transpose();
    (x1, (p1 + p1.transpose()) * 0.5)
}

/// Builds a 2×2 covariance from `[var_x, cov_xy, var_y]`.
pub fn cov2(c: [f64; 3]) -> Matrix2<f64> {
    Matrix2::new(c[0], c[1], c[1], c[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_matches_the_closed_form_scalar_case() {
        // Prior N(0, 9) on each axis, measurement z = (4, -2) with variance 16:
        // posterior mean = 9/25 · z, variance = 9·16/25.
        let x = State::zeros();
        let p = Cov::from_diagonal(&Vector4::new(9.0, 9.0, 1.0, 1.0));
        let r = cov2([16.0, 0.0, 16.0]);
        let z = Vector2::new(4.0, -2.0);
        let inn = innovation(&x, &p, &z, &r).expect("positive definite");
        assert!((inn.d2 - (16.0 + 4.0) / 25.0).abs() < 1e-12);
        let (x1, p1) = update(&x, &p, &inn, &r);
        assert!((x1[0] - 9.0 / 25.0 * 4.0).abs() < 1e-12);
        assert!((x1[1] + 9.0 / 25.0 * 2.0).abs() < 1e-12);
        assert!((p1[(0, 0)] - 9.0 * 16.0 / 25.0).abs() < 1e-12);
        assert!(
            (p1[(2, 2)] - 1.0).abs() < 1e-12,
            "uncorrelated velocity is untouched"
        );
    }

    #[test]
    fn constant_velocity_prediction_matches_the_closed_form() {
        let x = State::new(10.0, 20.0, 1.5, -0.5);
        let p = Cov::from_diagonal(&Vector4::new(4.0, 4.0, 0.25, 0.25));
        let (x1, p1) = ConstantVelocity.predict(&x, &p, 10.0, 0.0);
        assert_eq!((x1[0], x1[1]), (25.0, 15.0));
        // Var(x + dt·vx) = 4 + 100·0.25 = 29, Cov(x, vx) = dt·0.25 = 2.5.
        assert!((p1[(0, 0)] - 29.0).abs() < 1e-12);
        assert!((p1[(0, 2)] - 2.5).abs() < 1e-12);
        let (_, pq) = ConstantVelocity.predict(&x, &p, 2.0, 0.3);
        assert!((pq[(0, 0)] - (4.0 + 4.0 * 0.25 + 0.3 * 8.0 / 3.0)).abs() < 1e-12);
        assert!((pq[(2, 2)] - (0.25 + 0.3 * 2.0)).abs() < 1e-12);
    }
}

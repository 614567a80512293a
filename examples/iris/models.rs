//! The three classifiers the `train` step compares, from smartcore: logistic regression, a
//! decision tree and k-nearest neighbours.

use std::error::Error;

use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};
use smartcore::metrics::distance::euclidian::Euclidian;
use smartcore::neighbors::knn_classifier::{KNNClassifier, KNNClassifierParameters};
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters,
};

type Matrix = DenseMatrix<f64>;
type Labels = Vec<u32>;

/// A trained classifier.
pub enum Classifier {
    LogisticRegression(LogisticRegression<f64, u32, Matrix, Labels>),
    DecisionTree(DecisionTreeClassifier<f64, u32, Matrix, Labels>),
    KNearestNeighbours(KNNClassifier<f64, u32, Matrix, Labels, Euclidian<f64>>),
}

impl Classifier {
    /// Its name, as the metrics, the confusion matrices and the registry tags say it.
    pub fn name(&self) -> &'static str {
        match self {
            Classifier::LogisticRegression(_) => "logistic_regression",
            Classifier::DecisionTree(_) => "decision_tree",
            Classifier::KNearestNeighbours(_) => "knn",
        }
    }

    /// The predicted species of each row.
    pub fn predict(&self, x: &Matrix) -> Result<Labels, Box<dyn Error>> {
        let predicted = match self {
            Classifier::LogisticRegression(m) => m.predict(x),
            Classifier::DecisionTree(m) => m.predict(x),
            Classifier::KNearestNeighbours(m) => m.predict(x),
        };
        predicted.map_err(|e| format!("{} cannot predict: {e}", self.name()).into())
    }

    /// The trained model as JSON, which smartcore reads back with serde.
    pub fn to_json(&self) -> serde_json::Result<String> {
        match self {
            Classifier::LogisticRegression(m) => serde_json::to_string(m),
            Classifier::DecisionTree(m) => serde_json::to_string(m),
            Classifier::KNearestNeighbours(m) => serde_json::to_string(m),
        }
    }
}

/// Trains each classifier on rows `x` with species `y`.
pub fn train_all(x: &[Vec<f64>], y: &[u32]) -> Result<Vec<Classifier>, Box<dyn Error>> {
    let x = DenseMatrix::from_2d_vec(&x.to_vec())
        .map_err(|e| format!("the training data is not a matrix: {e}"))?;
    let y = y.to_vec();
    Ok(vec![
        Classifier::LogisticRegression(
            LogisticRegression::fit(&x, &y, LogisticRegressionParameters::default())
                .map_err(failed("logistic regression"))?,
        ),
        Classifier::DecisionTree(
            DecisionTreeClassifier::fit(
                &x,
                &y,
                DecisionTreeClassifierParameters {
                    seed: Some(7),
                    ..Default::default()
                }
                .with_max_depth(4),
            )
            .map_err(failed("the decision tree"))?,
        ),
        Classifier::KNearestNeighbours(
            KNNClassifier::fit(&x, &y, KNNClassifierParameters::default().with_k(5))
                .map_err(failed("k-nearest neighbours"))?,
        ),
    ])
}

/// The error of a classifier that cannot be trained.
fn failed(name: &'static str) -> impl Fn(smartcore::error::Failed) -> String {
    move |e| format!("{name} cannot be trained: {e}")
}

/// Rows as a matrix.
pub fn matrix(x: &[Vec<f64>]) -> Result<Matrix, Box<dyn Error>> {
    DenseMatrix::from_2d_vec(&x.to_vec()).map_err(|e| format!("not a matrix: {e}").into())
}

package paystream;

import java.io.Serializable;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.ml.classification.GBTClassificationModel;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.regression.DecisionTreeRegressionModel;
import org.apache.spark.ml.tree.ContinuousSplit;
import org.apache.spark.ml.tree.InternalNode;
import org.apache.spark.ml.tree.Node;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Why a gradient-boosted model (MLlib's GBTClassificationModel) scored a payment as it did.
 *
 * <p>Each tree's output is its root's value plus, at every split on the payment's path, the
 * change from the node to the child taken; each change is credited to the split's feature (the
 * path attribution of Saabas). Summed over the trees with their weights, the credits plus the
 * bias (the roots' weighted values) are exactly the model's margin, from which MLlib's
 * probability follows; spark_jobs.risk_model shows the largest positive credits as the
 * model's reasons. The trees are copied into flat arrays once, so the function the stream and
 * the batch call is the same small loop.
 */
public final class ModelReasons implements Serializable {
  private static final long serialVersionUID = 1L;
  static final StructType REASON = StructType.fromDDL("name string, value double");

  private final String[] names;
  private final double[] weights;
  private final int[][] feature;
  private final double[][] threshold;
  private final int[][] left;
  private final int[][] right;
  private final double[][] value;

  private ModelReasons(GBTClassificationModel model, String[] names) {
    DecisionTreeRegressionModel[] trees = model.trees();
    if (names.length != model.numFeatures()) {
      throw new IllegalArgumentException("the model reads " + model.numFeatures()
          + " features, not " + names.length);
    }
    this.names = names.clone();
    this.weights = model.treeWeights().clone();
    int n = trees.length;
    feature = new int[n][];
    threshold = new double[n][];
    left = new int[n][];
    right = new int[n][];
    value = new double[n][];
    for (int t = 0; t < n; t++) {
      List<Node> nodes = new ArrayList<>();
      nodes.add(trees[t].rootNode());
      for (int i = 0; i < nodes.size(); i++) {  // breadth first: children after parents
        if (nodes.get(i) instanceof InternalNode inner) {
          nodes.add(inner.leftChild());
          nodes.add(inner.rightChild());
        }
      }
      int size = nodes.size();
      feature[t] = new int[size];
      threshold[t] = new double[size];
      left[t] = new int[size];
      right[t] = new int[size];
      value[t] = new double[size];
      int next = 1;
      for (int i = 0; i < size; i++) {
        Node node = nodes.get(i);
        value[t][i] = node.prediction();
        if (node instanceof InternalNode inner) {
          if (!(inner.split() instanceof ContinuousSplit split)) {
            throw new IllegalArgumentException("only continuous splits are explained");
          }
          feature[t][i] = split.featureIndex();
          threshold[t][i] = split.threshold();
          left[t][i] = next++;
          right[t][i] = next++;
        } else {
          feature[t][i] = -1;
        }
      }
    }
  }

  /** The explainer of a fitted model whose features are named `names`, in vector order. */
  public static ModelReasons of(GBTClassificationModel model, String[] names) {
    return new ModelReasons(model, names);
  }

  /** The margin with no feature credited: the trees' root values, weighted. */
  public double bias() {
    double sum = 0;
    for (int t = 0; t < weights.length; t++) {
      sum += weights[t] * value[t][0];
    }
    return sum;
  }

  /** Per feature, its credit to the margin of one payment (their sum plus bias() is it). */
  public double[] credits(Vector x) {
    double[] out = new double[names.length];
    for (int t = 0; t < weights.length; t++) {
      int node = 0;
      while (feature[t][node] >= 0) {
        // MLlib's ContinuousSplit: go left when the value is at or below the threshold.
        int child = x.apply(feature[t][node]) <= threshold[t][node]
            ? left[t][node] : right[t][node];
        out[feature[t][node]] += weights[t] * (value[t][child] - value[t][node]);
        node = child;
      }
    }
    return out;
  }

  /** The `top` largest positive credits as (name, value to 4 places), largest first, ties by
   * name. */
  public List<Row> reasons(Vector x, int top) {
    double[] credit = credits(x);
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < credit.length; i++) {
      if (credit[i] > 0) {
        order.add(i);
      }
    }
    order.sort((a, b) -> credit[a] != credit[b] ? Double.compare(credit[b], credit[a])
        : names[a].compareTo(names[b]));
    List<Row> out = new ArrayList<>();
    for (int i : order.subList(0, Math.min(top, order.size()))) {
      double rounded = BigDecimal.valueOf(credit[i]).setScale(4, RoundingMode.HALF_UP)
          .doubleValue();
      out.add(RowFactory.create(names[i], rounded));
    }
    return out;
  }

  /** The rows with `outColumn`: reasons() of the vector in `vectorColumn`, as
   * array&lt;struct&lt;name, value&gt;&gt; (null when the vector is). */
  public Dataset<Row> withReasons(Dataset<Row> rows, String vectorColumn, int top,
                                  String outColumn) {
    ModelReasons self = this;
    UserDefinedFunction udf = functions.udf(
        (UDF1<Vector, List<Row>>) x -> x == null ? null : self.reasons(x, top),
        DataTypes.createArrayType(REASON));
    return rows.withColumn(outColumn, udf.apply(new Column[] {functions.col(vectorColumn)}));
  }

  /** The rows with `outColumn`: every feature's credit (array&lt;double&gt;, vector order). */
  public Dataset<Row> withCredits(Dataset<Row> rows, String vectorColumn, String outColumn) {
    ModelReasons self = this;
    UserDefinedFunction udf = functions.udf(
        (UDF1<Vector, double[]>) x -> x == null ? null : self.credits(x),
        DataTypes.createArrayType(DataTypes.DoubleType));
    return rows.withColumn(outColumn, udf.apply(new Column[] {functions.col(vectorColumn)}));
  }
}

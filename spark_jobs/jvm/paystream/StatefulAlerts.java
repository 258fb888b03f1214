package paystream;

import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.streaming.OutputMode;
import org.apache.spark.sql.streaming.TimeMode;
import org.apache.spark.sql.types.StructType;

/** The entry point spark_jobs.stateful_alerts calls through Py4J. */
public final class StatefulAlerts {
  private StatefulAlerts() {}

  /** The grouping key of each bucket 0..n-1 (tests check Spark places key b in partition b). */
  public static int[] spreadKeys(int n) {
    return Stages.spreadKeys(n);
  }

  /**
   * Valid payments and labels (spark_jobs.stateful_alerts.INPUT_COLUMNS) -> output rows
   * (outputSchema): the user stage keyed by Kafka partition bucket, chained in the same query
   * to the merchant stage keyed by merchant bucket, each over `buckets` shuffle partitions.
   */
  public static Dataset<Row> alerts(Dataset<Row> payments, String config, String outputSchema,
                                    int buckets) {
    int[] keys = Stages.spreadKeys(buckets);
    StructType output = StructType.fromDDL(outputSchema);
    StructType stage = StructType.fromDDL(outputSchema + ", " + Stages.STAGE_EXTRA);
    int partitionAt = payments.schema().fieldIndex("source_partition");
    int merchantAt = stage.fieldIndex("merchant_id");
    Dataset<Row> byUser = payments
        .groupByKey((MapFunction<Row, Integer>) row -> keys[Math.floorMod(
            row.getInt(partitionAt), buckets)], Encoders.INT())
        .transformWithState(new UserStage(config), TimeMode.None(), OutputMode.Update(),
            Encoders.row(stage));
    return byUser
        .groupByKey((MapFunction<Row, Integer>) row -> keys[Stages.merchantBucket(
            row.getString(merchantAt), buckets)], Encoders.INT())
        .transformWithState(new MerchantStage(config, stage), TimeMode.None(), OutputMode.Update(),
            Encoders.row(output));
  }
}

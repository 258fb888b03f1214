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

  /** Valid payments (spark_jobs.stateful_alerts.INPUT_COLUMNS) -> alert rows (alertSchema). */
  public static Dataset<Row> alerts(Dataset<Row> payments, String config, String alertSchema) {
    return payments
        .groupByKey((MapFunction<Row, Integer>) row -> 0, Encoders.INT())
        .transformWithState(new KeyedAlertProcessor(config), TimeMode.None(),
            OutputMode.Update(), Encoders.row(StructType.fromDDL(alertSchema)));
  }
}

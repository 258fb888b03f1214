package paystream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.streaming.MapState;
import org.apache.spark.sql.streaming.OutputMode;
import org.apache.spark.sql.streaming.StatefulProcessor;
import org.apache.spark.sql.streaming.TTLConfig;
import org.apache.spark.sql.streaming.TimeMode;
import org.apache.spark.sql.streaming.TimerValues;
import org.apache.spark.sql.streaming.ValueState;
import org.apache.spark.sql.types.StructType;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Stateful stage 2, one key per merchant bucket: the merchant rules, terminal risk, decisions.
 *
 * <p>It reads what the user stage forwards: payments with their user features and fired user
 * rules, label records, and the user alerts (passed on unchanged). A merchant's payments come
 * from every Kafka partition; within a batch they are taken in Kafka order (partition, then
 * offset), as the one-key processor took them, and lateness was already judged per partition
 * upstream, so the merchant rules see exactly the payments silver accepts. Per merchant an
 * entry holds what compromised_merchant needs (elevated tickets only) and a terminal
 * (Behaviour.Terminal: daily counts and the frauds labelled so far) gives the terminal
 * features and risky_terminal; each payment new for its user gets one risk decision. State
 * stays bounded by event time, swept as the user stage sweeps.
 */
public final class MerchantStage extends StatefulProcessor<Integer, Row, Row> {
  private final String config;
  private final InputFields f;
  private final int userNewAt;
  private final int labelAt;
  private final int labelledMsAt;
  private transient Map<String, KeyedRules.Rule> rules;
  private transient List<String> merchantRules;
  private transient long latenessMs;
  private transient long merchantHorizonMs;
  private transient long merchantKeepMs;
  private transient ValueState<Long> swept;
  private transient MapState<String, String> merchants;
  private transient Behaviour.Config behaviour;
  private transient MapState<String, String> terminals;

  /** A merchant stage for the rules in the JSON config the Python side writes. */
  public MerchantStage(String config, StructType stage) {
    this.config = config;
    this.f = new InputFields(stage::fieldIndex);
    this.userNewAt = stage.fieldIndex("user_new");
    this.labelAt = stage.fieldIndex("label");
    this.labelledMsAt = stage.fieldIndex("labelled_ms");
  }

  @Override
  public void init(OutputMode outputMode, TimeMode timeMode) {
    JsonNode root = Stages.readJson(config);
    rules = KeyedRules.parseRules(root.get("rules"));
    latenessMs = root.get("lateness_ms").asLong();
    merchantRules = KeyedRules.enabled(rules, KeyedRules.family(root, "merchant_rules"));
    merchantHorizonMs = root.get("merchant_horizon_ms").asLong();
    merchantKeepMs = merchantHorizonMs + latenessMs;
    swept = getHandle().getValueState("swept", Encoders.LONG(), TTLConfig.NONE());
    merchants = getHandle().getMapState("merchants", Encoders.STRING(), Encoders.STRING(),
        TTLConfig.NONE());
    JsonNode section = root.get("behaviour");
    behaviour = section == null || section.isNull() ? null : Behaviour.Config.parse(section);
    if (behaviour != null) {
      terminals = getHandle().getMapState("terminals", Encoders.STRING(), Encoders.STRING(),
          TTLConfig.NONE());
    }
  }

  @Override
  public scala.collection.Iterator<Row> handleInputRows(Integer key,
      scala.collection.Iterator<Row> input, TimerValues timerValues) {
    List<Row> payments = new ArrayList<>();
    List<Row> labels = new ArrayList<>();
    List<Row> out = new ArrayList<>();
    while (input.hasNext()) {
      Row row = input.next();
      String kind = row.getString(11);
      if (Stages.ALERT.equals(kind)) {
        out.add(Stages.narrow(row));
      } else if (Stages.LABEL.equals(kind)) {
        labels.add(row);
      } else {
        payments.add(row);
      }
    }
    Map<String, Behaviour.Terminal> terminalCache = new LinkedHashMap<>();
    if (behaviour != null) {
      applyLabels(labels, terminalCache);
    }
    if (payments.isEmpty()) {
      storeTerminals(terminalCache);
      return CollectionConverters.asScala(out.iterator());
    }
    Stages.sortByKafkaOrder(payments, f);
    Map<String, KeyedRules.Entry> entries = new LinkedHashMap<>();
    Map<String, List<KeyedRules.Payment>> arrivals = new HashMap<>();
    List<Pending> pending = new ArrayList<>();
    long top = Long.MIN_VALUE;
    for (Row row : payments) {
      KeyedRules.Payment p = f.payment(row);
      top = Math.max(top, p.ms);
      if (!merchantRules.isEmpty() && row.getBoolean(f.elevated)) {
        KeyedRules.Entry entry = entries.computeIfAbsent(p.merchantId,
            m -> KeyedRules.Entry.decode(merchants.containsKey(m) ? merchants.getValue(m) : null));
        if (KeyedRules.settle(entry, p.transactionId, row.getString(f.payloadSha256), p.ms,
            latenessMs).equals("new")) {
          arrivals.computeIfAbsent(p.merchantId, m -> new ArrayList<>()).add(p);
        }
      }
      if (behaviour != null && row.getBoolean(userNewAt)) {
        Behaviour.Terminal terminal = terminal(p.merchantId, terminalCache);
        pending.add(new Pending(row, p, Behaviour.terminalFeatures(terminal, p.ms, behaviour)));
        terminal.add(p.ms, behaviour.historyDays());
      }
    }
    Timestamp now = new Timestamp(System.currentTimeMillis());
    List<Row> merchantAlerts = new ArrayList<>();
    Stages.judgeAll(entries, arrivals, rules, merchantRules, merchantHorizonMs, latenessMs,
        merchants, now, merchantAlerts);
    out.addAll(merchantAlerts);
    if (behaviour != null) {
      decideAll(pending, merchantAlerts, now, out);
      storeTerminals(terminalCache);
    }
    if (!swept.exists()) {
      swept.update(top);
    } else if (top - swept.get() >= UserStage.SWEEP_EVERY_MS) {
      Stages.sweepEntries(merchants, top - 2 * merchantKeepMs);
      if (behaviour != null) {
        sweepTerminals(Math.floorDiv(top, Behaviour.DAY_MS) - behaviour.historyDays() - 1);
      }
      swept.update(top);
    }
    return CollectionConverters.asScala(out.iterator());
  }

  /** A label record: a fraud (or, later, legit) word on a payment at a merchant. */
  private void applyLabels(List<Row> labels, Map<String, Behaviour.Terminal> cache) {
    if (labels.isEmpty()) {
      return;
    }
    int tx = f.transactionId;
    int merchant = f.merchantId;
    int eventMs = f.eventMs;
    int label = labelAt;
    int labelledMs = labelledMsAt;
    for (Row row : labels) {
      if (row.isNullAt(tx) || row.isNullAt(merchant) || row.isNullAt(eventMs)
          || row.isNullAt(labelledMs)) {
        continue;
      }
      terminal(row.getString(merchant), cache).label(row.getString(tx),
          "fraud".equals(row.getString(label)), row.getLong(eventMs), row.getLong(labelledMs),
          behaviour.historyDays());
    }
  }

  private Behaviour.Terminal terminal(String merchant, Map<String, Behaviour.Terminal> cache) {
    return cache.computeIfAbsent(merchant, m -> Behaviour.Terminal.decode(
        terminals.containsKey(m) ? terminals.getValue(m) : null));
  }

  /** risky_terminal and one decision per payment new for its user. */
  private void decideAll(List<Pending> pending, List<Row> merchantAlerts, Timestamp now,
                         List<Row> out) {
    Map<String, TreeSet<String>> fired = new HashMap<>();
    for (Row alert : merchantAlerts) {
      fired.computeIfAbsent(alert.getString(3), t -> new TreeSet<>()).add(alert.getString(1));
    }
    KeyedRules.Rule terminalRule = rules.get("risky_terminal");
    if (terminalRule != null && !terminalRule.enabled()) {
      terminalRule = null;
    }
    int firedAt = 15;
    int detailsAt = 9;
    int ratioAt = 16;
    for (Pending item : pending) {
      KeyedRules.Payment p = item.payment();
      Row row = item.row();
      TreeSet<String> names = fired.computeIfAbsent(p.transactionId, t -> new TreeSet<>());
      Stages.readJson(row.getString(firedAt)).forEach(n -> names.add(n.asText()));
      if (behaviour.highAmount() != null && p.amountEur.compareTo(behaviour.highAmount()) > 0) {
        names.add("high_amount");
      }
      Map<String, Object> details = terminalRule == null ? null
          : Behaviour.riskyTerminal(item.features(), terminalRule);
      if (details != null) {
        out.add(Stages.alertRow(new KeyedRules.Hit("risky_terminal", p, details), rules, now));
        names.add("risky_terminal");
      }
      Double ratio = row.isNullAt(ratioAt) ? null : row.getDouble(ratioAt);
      List<Map.Entry<String, Double>> parts = Behaviour.contributions(behaviour, names, ratio,
          (Double) item.features().get("terminal_fraud_rate"));
      double score = Behaviour.score(parts);
      ArrayNode list = KeyedRules.JSON.createArrayNode();
      names.forEach(list::add);
      ObjectNode features = (ObjectNode) Stages.readJson(row.getString(detailsAt));
      out.add(RowFactory.create(null, null, null, p.transactionId, p.userId, p.merchantId,
          p.amountEur, new Timestamp(p.ms), now, Behaviour.featuresJson(features, item.features()),
          new Timestamp(p.kafkaMs), Stages.DECISION, score, Behaviour.decide(behaviour, score),
          Behaviour.contributionsJson(parts), list.toString(), ratio));
    }
  }

  private void storeTerminals(Map<String, Behaviour.Terminal> cache) {
    cache.forEach((k, v) -> terminals.updateValue(k, v.encode()));
  }

  /** Remove the terminals with no payment since floorDay. */
  private void sweepTerminals(long floorDay) {
    List<String> stale = new ArrayList<>();
    scala.collection.Iterator<scala.Tuple2<String, String>> items = terminals.iterator();
    while (items.hasNext()) {
      scala.Tuple2<String, String> item = items.next();
      if (Behaviour.Terminal.decode(item._2()).newestDay() < floorDay) {
        stale.add(item._1());
      }
    }
    stale.forEach(terminals::removeKey);
  }

  /** A payment waiting for its decision, with the terminal features read at arrival. */
  private record Pending(Row row, KeyedRules.Payment payment, Map<String, Object> features) {}
}

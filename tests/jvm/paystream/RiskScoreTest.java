package paystream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static paystream.Fixtures.behaviour;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** The risk score: weighted fired rules plus two graded features, capped at 1, and its bands. */
class RiskScoreTest {

  private static List<Map.Entry<String, Double>> parts(Double ratio, Double rate,
                                                       String... fired) {
    return Behaviour.contributions(behaviour(), new TreeSet<>(List.of(fired)), ratio, rate);
  }

  private static List<String> names(List<Map.Entry<String, Double>> parts) {
    List<String> out = new ArrayList<>();
    parts.forEach(p -> out.add(p.getKey()));
    return out;
  }

  @Test
  void aFiredRuleAddsItsWeightAndNothingElseCountsWithoutFeatures() {
    List<Map.Entry<String, Double>> parts = parts(null, null, "velocity");
    assertEquals(List.of(Map.entry("rule:velocity", 0.5)), parts);
    assertEquals(0.5, Behaviour.score(parts));
  }

  @Test
  void theBandsStartAtTheirThresholds() {
    assertEquals("approve", Behaviour.decide(behaviour(), 0.4999));
    assertEquals("review", Behaviour.decide(behaviour(), 0.5));
    assertEquals("review", Behaviour.decide(behaviour(), 0.7999));
    assertEquals("block", Behaviour.decide(behaviour(), 0.8));
  }

  @Test
  void theAmountRatioIsGradedFromOneToTheFullRatio() {
    assertEquals(List.of(), parts(1.0, null));            // what the user usually spends: 0
    assertEquals(List.of(), parts(0.5, null));            // below usual never adds
    assertEquals(0.15, Behaviour.score(parts(5.5, null))); // half way from 1 to 10: 0.3 x 0.5
    assertEquals(0.3, Behaviour.score(parts(10.0, null)));
    assertEquals(0.3, Behaviour.score(parts(25.0, null))); // capped at the full weight
  }

  @Test
  void theTerminalFraudRateIsGradedFromZeroToTheFullRate() {
    assertEquals(List.of(), parts(null, 0.0));
    assertEquals(0.2, Behaviour.score(parts(null, 0.25)));  // 0.4 x 0.25 / 0.5
    assertEquals(0.4, Behaviour.score(parts(null, 0.5)));
    assertEquals(0.4, Behaviour.score(parts(null, 0.9)));
  }

  @Test
  void theScoreIsCappedAtOneAndThePartsComeLargestFirst() {
    List<Map.Entry<String, Double>> parts = parts(null, 0.5, "impossible_travel", "card_testing");
    assertEquals(List.of("rule:card_testing", "rule:impossible_travel", "terminal_fraud_rate"),
        names(parts));
    assertEquals(1.0, Behaviour.score(parts));
    assertEquals("block", Behaviour.decide(behaviour(), Behaviour.score(parts)));
  }

  @Test
  void equalPartsAreOrderedByNameAndAnUnweightedRuleAddsNothing() {
    List<Map.Entry<String, Double>> parts = parts(null, null, "risky_terminal",
        "amount_vs_profile", "not_a_weighted_rule");
    assertEquals(List.of("rule:amount_vs_profile", "rule:risky_terminal"), names(parts));
    assertEquals(1.0, Behaviour.score(parts));  // 0.6 + 0.6, capped
  }

  @Test
  void theScoreIsRoundedToFourPlaces() {
    // velocity 0.5 + ratio 4 -> 0.3 x 3 / 9 = 0.1 + 0.4 x 0.1 / 0.5 = 0.08: 0.68
    assertEquals(0.68, Behaviour.score(parts(4.0, 0.1, "velocity")));
    // ratio 2 -> 0.3 / 9 = 0.0333333...
    assertEquals(0.0333, Behaviour.score(parts(2.0, null)));
  }

  @Test
  void theContributionsJsonKeepsTheTopThreeRounded() {
    List<Map.Entry<String, Double>> parts = parts(2.0, 0.25, "velocity", "high_amount");
    assertEquals("[{\"name\":\"rule:high_amount\",\"value\":0.9},"
        + "{\"name\":\"rule:velocity\",\"value\":0.5},"
        + "{\"name\":\"terminal_fraud_rate\",\"value\":0.2}]",
        Behaviour.contributionsJson(parts));
    assertEquals(4, parts.size());
  }
}

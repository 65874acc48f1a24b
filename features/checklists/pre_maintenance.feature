# The manual's 事前チェックリスト. Each item checks the real state and records
# its evidence. The planned-maintenance workflow runs it as the gate before the
# first change; an operator also runs it alone, days before the window (its
# timing item checks that the window is ahead and long enough, not that it is open).
@component:gateway @component:monitoring
Feature: Pre-maintenance checklist

  @id:pre-maintenance-checklist
  Scenario: Everything is ready before the first change
    Then the maintenance window is set, not over, and long enough for the plan
    And the affected services and users are identified
    And the announcement was delivered on every channel
    And a fresh backup of every planned component matches its manifest
    And every planned procedure has a rollback scenario
    And every file the plan installs is staged and checksummed
    And the staging verification is done or marked not applicable

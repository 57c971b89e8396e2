package scenarios

func faultScenarios() []Scenario                  { return nil }
